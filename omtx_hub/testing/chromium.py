"""How the dashboard tests and benchmarks drive Debian's Chromium (through Playwright)."""

from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
# WebGL through SwiftShader (ANGLE/Vulkan); both GL flags are needed, see docs/dashboards.md.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
]
