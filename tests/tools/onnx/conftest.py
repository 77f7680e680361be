"""The onnx tests use the registry tests' module-scoped trained models (one MLflow store per module)."""

from tests.tools.registry.conftest import settings, trained  # noqa: F401
