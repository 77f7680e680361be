"""The shared Spark session behind `engine=spark` (validation, lake): started lazily, once, reused, stopped
with the server.

`MLOPS_MCP_SPARK_MASTER` chooses where Spark runs: unset means `local[*]` when pyspark is installed (the
`spark` extra), `off` disables Spark, anything else is a master URL (`spark://host:7077`, `yarn`,
`k8s://...`). The session is built on the first call that needs it (a JVM start takes seconds) and kept
in the AppContext as the client `spark`; `AppContext.close` stops it. Its output never reaches the
protocol stream: under stdio fd 1 already points at stderr (the JVM inherits it), and log4j is configured
here to log errors only, to stderr. On a cluster the server is the driver (client mode): executors connect
back to it (`driver_address`) and read the files it names at the same paths.

pyspark is imported inside the functions: the server starts without it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import math
import os
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mcp_server.core.errors import BackendUnavailable, InvalidInput, LimitExceeded

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from mcp_server.core.boundary import Control
    from mcp_server.core.config import Settings
    from mcp_server.core.context import AppContext

Engine = Literal["pandas", "spark", "auto"]
CLIENT_KEY = "spark"
OFF = ("", "off", "none", "false", "0")
LOG4J = """\
status = error
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = stderr
appender.stderr.type = Console
appender.stderr.name = stderr
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n
# pyspark counts as a shell: without its own level, Spark lowers the root to WARN for it.
logger.repl.name = org.apache.spark.repl.Main
logger.repl.level = error
"""

log = logging.getLogger("mlops_mcp.spark")


def spark_master(settings: Settings) -> str | None:
    """The configured master, `local[*]` by default when pyspark is installed, None when Spark is off."""
    value = settings.spark_master
    if value is None:
        return "local[*]" if importlib.util.find_spec("pyspark") is not None else None
    value = value.strip()
    return None if value.lower() in OFF else value


def session_config(settings: Settings, master: str) -> dict[str, str]:
    """Everything the session is built with: small and quiet by default (the driver is this process)."""
    log4j = settings.home / "cache" / "spark" / "log4j2.properties"
    log4j.parent.mkdir(parents=True, exist_ok=True)
    if not log4j.is_file() or log4j.read_text() != LOG4J:
        log4j.write_text(LOG4J)
    return {
        "spark.master": master,
        "spark.app.name": "mlops-mcp",
        "spark.driver.memory": settings.spark_driver_memory,
        # The driver's log4j file only: in local mode the executors run in the driver's JVM, and on a
        # cluster they log to the workers' own files (`work/<app>/<n>/stderr`), where this path may not exist.
        "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile={log4j}",
        **driver_address(master),
        "spark.sql.shuffle.partitions": "2" if master.startswith("local") else "200",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.local.dir": str(settings.home / "cache" / "spark" / "tmp"),
        "spark.sql.warehouse.dir": str(settings.home / "cache" / "spark" / "warehouse"),
        # Results and version folders hold data files only (no _SUCCESS markers).
        "spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs": "false",
        "spark.hadoop.parquet.enable.summary-metadata": "false",
        **_s3a_config(settings),
        **settings.spark_conf,
    }


LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def driver_address(master: str) -> dict[str, str]:
    """Where the driver (the server's JVM) listens and what it tells executors to connect to.

    Spark's default is the host's first non-loopback address even when every executor is on this machine:
    in local mode (executors inside this JVM) and under a standalone master on loopback (executors started
    here by its worker). That opens the driver's RPC and block-manager ports, which have no
    authentication, on the network, and fails where the host name resolves to nothing. So both listen on
    127.0.0.1 only. A master on another machine needs a driver its executors can reach: Spark's default,
    or `spark.driver.host` (and `spark.driver.bindAddress`) in MLOPS_MCP_SPARK_CONF, which wins."""
    if master.startswith("local"):
        loopback = True
    else:
        scheme, _, rest = master.partition("://")
        hosts = [h.rpartition(":")[0] or h for h in rest.split(",")]  # spark://h1:7077,h2:7077 (HA)
        loopback = scheme == "spark" and all(h in LOOPBACK for h in hosts)
    if not loopback:
        return {}
    return {"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1"}


def _s3a_config(settings: Settings) -> dict[str, str]:
    """An s3:// lake read as s3a:// (hadoop-aws on the classpath): the configured endpoint and region;
    credentials come from the environment (AWS_ACCESS_KEY_ID, ...) like the rest of the lake's."""
    from urllib.parse import urlsplit

    conf = {"spark.hadoop.fs.s3a.endpoint.region": settings.s3_region}
    if settings.s3_endpoint_url:
        from mcp_server.core.net import check_url

        check_url(settings.s3_endpoint_url, settings.url_allowlist)
        parts = urlsplit(settings.s3_endpoint_url)
        conf.update(
            {
                "spark.hadoop.fs.s3a.endpoint": parts.netloc.rpartition("@")[2],
                "spark.hadoop.fs.s3a.path.style.access": "true",
                "spark.hadoop.fs.s3a.connection.ssl.enabled": str(parts.scheme == "https").lower(),
            }
        )
    return conf


class SparkEngine:
    """One SparkSession per server process, built on first use; thread-safe."""

    def __init__(self, settings: Settings) -> None:
        master = spark_master(settings)
        if master is None:
            raise BackendUnavailable(
                "Spark is not configured: install the spark extra (pip install 'mlops-mcp[spark]') and "
                "Java 17, or set MLOPS_MCP_SPARK_MASTER."
            )
        self.settings = settings
        self.master = master
        self._session: SparkSession | None = None
        self._lock = threading.Lock()

    @property
    def started(self) -> bool:
        return self._session is not None

    def session(self) -> SparkSession:
        with self._lock:
            if self._session is None:
                self._session = self._start()
            return self._session

    def _start(self) -> SparkSession:
        import shutil

        if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
            raise BackendUnavailable(
                "Spark needs Java 17 and none was found; install it (apt-get install -y "
                "openjdk-17-jre-headless) or set JAVA_HOME."
            )
        try:
            from pyspark.sql import SparkSession
        except ImportError:
            raise BackendUnavailable("pyspark is not installed; pip install 'mlops-mcp[spark]'.") from None
        # Python workers (UDFs) run this interpreter, so the same packages: right for local mode and for a
        # cluster's executors on this machine; executors elsewhere need PYSPARK_PYTHON set to their own.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        from pyspark import SparkConf, SparkContext
        from pyspark.java_gateway import launch_gateway

        conf = SparkConf()
        for key, value in session_config(self.settings, self.master).items():
            conf.set(key, value)
        try:
            if SparkContext._gateway is None:
                # The JVM's stdout goes to stderr whatever the transport (under stdio fd 1 is stderr anyway).
                gateway = launch_gateway(conf, popen_kwargs={"stdout": sys.stderr.fileno()})
                SparkContext(conf=conf, gateway=gateway)
            session = SparkSession.builder.config(conf=conf).getOrCreate()
        except Exception as exc:  # JVM missing or failing, master unreachable
            first = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            raise BackendUnavailable(
                f"Spark could not start on master {self.master!r} ({first}); check "
                "MLOPS_MCP_SPARK_MASTER and Java 17."
            ) from None
        if session.sparkContext.master != self.master:
            # A JVM holds one SparkContext and pyspark one JVM per process: getOrCreate handed back the
            # session another AppContext in this process started elsewhere. Say so rather than run there.
            raise BackendUnavailable(
                f"Spark is already running on {session.sparkContext.master!r} in this process, not on "
                f"{self.master!r}; one process serves one Spark master."
            )
        session.sparkContext.setLogLevel("ERROR")
        log.info("Spark session started on %s (Spark %s)", self.master, session.version)
        return session

    def stop(self) -> None:
        with self._lock:
            session, self._session = self._session, None
        if session is not None:
            with contextlib.suppress(Exception):
                session.stop()


def spark_engine(app: AppContext) -> SparkEngine:
    """The process-wide Spark engine (its session starts on the first `session()` call)."""
    return app.client(CLIENT_KEY, lambda: SparkEngine(app.settings))  # type: ignore[no-any-return]


def stop_spark(app: AppContext) -> None:
    """Stop the session if one was started (AppContext.close calls this)."""
    engine = app._clients.get(CLIENT_KEY)
    if isinstance(engine, SparkEngine):
        engine.stop()


# -- choosing the engine ---------------------------------------------------------------------------


def table_size(path: Path) -> tuple[int | None, int]:
    """(rows if cheap to know, bytes): Parquet rows come from the footer; other formats only have bytes."""
    size = path.stat().st_size if path.is_file() else 0
    rows = None
    if path.suffix.lower() in (".parquet", ".pq") and path.is_file():
        with contextlib.suppress(Exception):
            import pyarrow.parquet as pq

            rows = int(pq.ParquetFile(path).metadata.num_rows)
    return rows, size


def choose_engine(
    settings: Settings, requested: str, rows: int | None, size_bytes: int
) -> Literal["pandas", "spark"]:
    """`pandas` and `spark` as asked (spark needs a configured master); `auto`: Spark when Spark is
    configured and the data has more rows than `spark_auto_rows` or more bytes than `spark_auto_bytes`."""
    if requested == "pandas":
        return "pandas"
    master = spark_master(settings)
    if requested == "spark":
        if master is None:
            raise InvalidInput(
                "engine=spark needs Spark: install the spark extra (pip install 'mlops-mcp[spark]') or "
                "set MLOPS_MCP_SPARK_MASTER; use engine=pandas otherwise."
            )
        return "spark"
    if requested != "auto":
        raise InvalidInput("engine must be pandas, spark or auto.")
    if master is None:
        return "pandas"
    big = (rows is not None and rows > settings.spark_auto_rows) or size_bytes > settings.spark_auto_bytes
    return "spark" if big else "pandas"


def spark_uri(location: str) -> str:
    """A lake or caller location as Spark's Hadoop filesystems name it (s3:// -> s3a://)."""
    if location.startswith("s3://"):
        return "s3a://" + location[5:]
    return location


# -- running a job: cancellation between Spark jobs and inside them -----------------------------------


@contextlib.contextmanager
def job_group(session: SparkSession, control: Control | None, description: str) -> Iterator[str]:
    """Tag the Spark jobs this thread starts; when the call is cancelled or its deadline passes, they are
    cancelled (tasks interrupted) instead of running on in the background."""
    group = f"mlops-{uuid.uuid4().hex[:12]}"
    sc = session.sparkContext
    sc.setJobGroup(group, description[:200], interruptOnCancel=True)
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.2):
            if control is not None and control.cancelled:
                with contextlib.suppress(Exception):
                    sc.cancelJobGroup(group)
                return

    watcher = threading.Thread(target=watch, name=f"spark-watch-{group}", daemon=True)
    if control is not None:
        watcher.start()
    try:
        yield group
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            sc.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]


def spark_error(exc: BaseException, what: str) -> InvalidInput | BackendUnavailable | LimitExceeded:
    """One sentence for a Spark failure: analysis errors are the caller's input, memory is a limit, the
    rest the backend. A JVM error's useful line is its cause, not py4j's 'An error occurred while calling'."""
    full = str(exc).strip()
    java = getattr(exc, "java_exception", None)
    for _ in range(10):  # py4j's message leaves out the JVM's causes: walk them
        if java is None:
            break
        with contextlib.suppress(Exception):
            full += "\n" + str(java.toString())
        try:
            java = java.getCause()
        except Exception:
            break
    name = type(exc).__name__
    if "OutOfMemoryError" in full or "GC overhead limit" in full:
        return LimitExceeded(
            f"Spark ran out of memory on {what}; raise MLOPS_MCP_SPARK_DRIVER_MEMORY (local mode) or run on a "
            "cluster (MLOPS_MCP_SPARK_MASTER)."
        )
    lines = [line.strip() for line in full.splitlines() if line.strip()]
    causes = [
        line
        for line in lines
        if ("Exception" in line or "Error" in line) and "occurred while calling" not in line
    ]
    text = (causes[0] if causes else lines[0] if lines else name).lstrip(": ")[:240]
    if name in ("AnalysisException", "ParseException", "IllegalArgumentException", "NumberFormatException"):
        return InvalidInput(f"Spark could not read {what}: {text}.")
    return BackendUnavailable(f"Spark failed on {what} ({text}).")


def describe(settings: Settings) -> dict[str, Any]:
    """What `doctor`/docs show: the master and thresholds."""
    return {
        "master": spark_master(settings),
        "auto_rows": settings.spark_auto_rows,
        "auto_bytes": settings.spark_auto_bytes,
    }


# -- reading tables on Spark (validation, quality) ------------------------------------------------

CACHE_MAX_BYTES = 64 * 1024**2  # files up to this size are cached in Spark for the run


def _on_disk_bytes(path: str) -> float:
    """Bytes of a local file or folder; unknown (infinite) for object stores."""
    if path.startswith(("s3://", "s3a://")):
        return math.inf
    p = Path(path)
    try:
        if p.is_file():
            return p.stat().st_size
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    except OSError:
        return math.inf


def spark_format(path: str) -> str:
    """The table format of a file or folder: its suffix decides; a folder without one is Parquet."""
    from mcp_server.core.tables import table_format

    if path.startswith(("s3://", "s3a://")):  # lake versions on S3 are Parquet folders
        return "parquet"
    p = Path(path)
    if p.is_dir() and not p.suffix:
        return "parquet"
    return table_format(p)


def read_spark(session: SparkSession, path: str) -> DataFrame:
    """A Spark DataFrame over a local file/folder or an s3a:// location (read lazily; no row limit)."""
    fmt = spark_format(path)
    uri = spark_uri(path)
    name = Path(path).name
    try:
        reader = session.read
        if fmt == "parquet":
            df = reader.parquet(uri)
        elif fmt in ("csv", "tsv"):
            df = reader.options(header=True, inferSchema=True, sep="," if fmt == "csv" else "\t").csv(uri)
        elif fmt == "jsonl":
            df = reader.json(uri)
        else:
            df = reader.option("multiLine", True).json(uri)
        columns = df.columns
    except Exception as exc:
        raise spark_error(exc, f"'{name}' as {fmt.upper()}") from None
    if not columns:
        raise InvalidInput(f"'{name}' has no columns.")
    return df


@contextlib.contextmanager
def cached(frame: DataFrame, path: str) -> Iterator[DataFrame]:
    """`frame` persisted for the block when the file is small (CACHE_MAX_BYTES), released after it."""
    if _on_disk_bytes(path) > CACHE_MAX_BYTES:
        yield frame
        return
    from pyspark import StorageLevel

    kept = frame.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        yield kept
    finally:
        with contextlib.suppress(Exception):
            kept.unpersist()
