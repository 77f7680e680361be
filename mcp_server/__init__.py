"""mlops-mcp: an MCP server that gives AI assistants real ML-ops tools."""

__version__ = "0.1.0"
