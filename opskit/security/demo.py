"""The review's embedded default: a small built front end with one planted,
published example key and a leaking ``.env``, so the notebook shows findings
without a network."""

from __future__ import annotations

from pathlib import Path

# The access key id AWS publishes in its documentation, not a live credential.
EXAMPLE_KEY_ID = "AKIAIOSFODNN7EXAMPLE"


def write_demo_build(folder: Path) -> tuple[Path, Path]:
    """Write ``dist/`` and ``.env.production`` under ``folder``; return both."""
    dist = folder / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text(
        '<!doctype html><html><head><script type="module" src="/assets/index.js">'
        "</script></head><body><div id=root></div></body></html>\n"
    )
    (dist / "assets" / "index.js").write_text(
        'const e={apiBase:"/api",region:"eu-west-1"};'
        f'const s={{accessKeyId:"{EXAMPLE_KEY_ID}"}};export{{e as config,s}};\n'
    )
    (dist / "assets" / "index.js.map").write_text(
        '{"version":3,"sources":["src/main.tsx"]}'
    )
    env = folder / ".env.production"
    env.write_text(f"VITE_API_BASE=/api\nVITE_AWS_ACCESS_KEY={EXAMPLE_KEY_ID}\n")
    return dist, env
