"""Dependency audits: saved reports of npm audit (npm 6 and npm 7+ formats),
pip-audit and osv-scanner, and an offline check of a package-lock.json
(lockfile versions 1 to 3) against an OSV advisory file. Each vulnerable
package becomes one finding naming package, installed and fixed versions,
severity, and whether it is a direct or transitive dependency."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from opskit.errors import InputError
from opskit.records import Finding, Severity
from opskit.security.findings import new_finding

CHECK = "dependencies"
_SEMVER = re.compile(r"^v?\d+(\.\d+){0,2}(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")
_WORDS = {
    "critical": Severity.CRITICAL,
    "high": Severity.HIGH,
    "moderate": Severity.MEDIUM,
    "medium": Severity.MEDIUM,
    "low": Severity.LOW,
    "info": Severity.INFO,
}


def read_audit(path: str | Path) -> list[Finding]:
    """Findings from a saved audit report, whichever of the formats it is."""
    try:
        return _read_audit(path)
    except (AttributeError, TypeError, KeyError) as exc:
        raise InputError(
            f"{path}: a field has an unexpected shape ({exc}); is this an unedited "
            "npm audit, pip-audit or osv-scanner report?"
        ) from exc


def _read_audit(path: str | Path) -> list[Finding]:
    data = _load_json(path)
    location = str(path)
    if isinstance(data, dict) and "advisories" in data:
        return list(_npm6(data, location))
    if isinstance(data, dict) and "vulnerabilities" in data:
        return list(_npm7(data, location))
    if isinstance(data, dict) and "results" in data:
        return list(_osv_scanner(data, location))
    if isinstance(data, list) or (isinstance(data, dict) and "dependencies" in data):
        return list(_pip_audit(data, location))
    raise InputError(
        f"{path}: not a report opskit reads; give npm audit --json, pip-audit -f json "
        "or osv-scanner --format json output"
    )


def check_lockfile(lockfile: str | Path, advisories: str | Path) -> list[Finding]:
    """Match a package-lock.json against OSV advisories, offline."""
    try:
        return _check_lockfile(lockfile, advisories)
    except (AttributeError, TypeError, KeyError) as exc:
        raise InputError(
            f"{lockfile} or {advisories}: a field has an unexpected shape ({exc}); "
            "give an npm package-lock.json and a list of OSV advisories"
        ) from exc


def _check_lockfile(lockfile: str | Path, advisories: str | Path) -> list[Finding]:
    lock = _load_json(lockfile)
    if not isinstance(lock, dict):
        raise InputError(f"{lockfile}: not a package-lock.json")
    osv = _load_json(advisories)
    entries = osv.get("vulns", osv) if isinstance(osv, dict) else osv
    if not isinstance(entries, list):
        raise InputError(f"{advisories}: expected a list of OSV advisories")

    direct = _direct_names(lock)
    findings = []
    for name, version in sorted(set(_installed(lock))):
        if not _SEMVER.match(version):
            continue  # a tag, URL or path: no range can be compared with it
        for entry in entries:
            fixed = _affects(entry, name, version)
            if fixed is None:
                continue
            findings.append(
                _finding(
                    str(entry.get("id", "?")),
                    name,
                    version,
                    fixed,
                    _osv_severity(entry),
                    str(entry.get("summary", "")),
                    "direct" if name in direct else "transitive" if direct else "",
                    str(lockfile),
                )
            )
    return findings


def _npm6(data: dict[str, Any], location: str) -> Iterator[Finding]:
    for key, adv in data["advisories"].items():
        for seen in adv.get("findings", []) or [{}]:
            paths = seen.get("paths", [])
            kind = "direct" if any(">" not in p for p in paths) else "transitive"
            yield _finding(
                f"npm-{key}",
                adv.get("module_name", "?"),
                seen.get("version", ""),
                adv.get("patched_versions", ""),
                _WORDS.get(adv.get("severity", ""), Severity.MEDIUM),
                adv.get("title", ""),
                kind if paths else "",
                location,
            )


def _npm7(data: dict[str, Any], location: str) -> Iterator[Finding]:
    for name, vuln in data["vulnerabilities"].items():
        advisories = [v for v in vuln.get("via", []) if isinstance(v, dict)]
        titles = "; ".join(str(v.get("title") or "") for v in advisories) or (
            "through " + ", ".join(str(v) for v in vuln.get("via", []))
        )
        fix = vuln.get("fixAvailable")
        fixed = (
            str(fix.get("version", ""))
            if isinstance(fix, dict)
            else ("a newer release" if fix is True else "")
        )
        ident = str(advisories[0].get("source", name)) if advisories else name
        yield _finding(
            f"npm-{ident}",
            name,
            f"in {vuln.get('range', '?')}",
            fixed,
            _WORDS.get(vuln.get("severity", ""), Severity.MEDIUM),
            titles,
            "direct" if vuln.get("isDirect") else "transitive",
            location,
        )


def _pip_audit(data: Any, location: str) -> Iterator[Finding]:
    dependencies = data["dependencies"] if isinstance(data, dict) else data
    for dep in dependencies:
        for vuln in dep.get("vulns", []):
            yield _finding(
                str(vuln.get("id", "?")),
                dep.get("name", "?"),
                dep.get("version", ""),
                ", ".join(vuln.get("fix_versions", [])),
                Severity.MEDIUM,
                str(vuln.get("description", ""))[:200],
                "",
                location,
            )


def _osv_scanner(data: dict[str, Any], location: str) -> Iterator[Finding]:
    for result in data["results"]:
        for pkg in result.get("packages", []):
            package = pkg.get("package", {})
            for vuln in pkg.get("vulnerabilities", []):
                yield _finding(
                    str(vuln.get("id", "?")),
                    package.get("name", "?"),
                    package.get("version", ""),
                    _first_fixed(vuln, package.get("name")),
                    _osv_severity(vuln),
                    str(vuln.get("summary", "")),
                    "",
                    location,
                )


def _finding(
    ident: str,
    package: str,
    installed: str,
    fixed: str,
    severity: Severity,
    title: str,
    kind: str,
    location: str,
) -> Finding:
    evidence = (
        f"{package} {installed}".strip() + f"; fixed in {fixed or 'no release yet'}"
    )
    if kind:
        evidence += f"; {kind} dependency"
    return new_finding(
        CHECK,
        f"dep-{ident}",
        severity,
        f"{package}: {title or ident}",
        evidence=evidence,
        location=location,
        advice=f"upgrade {package} to {fixed}"
        if fixed
        else "watch for a fixed release",
    )


def _osv_severity(entry: dict[str, Any]) -> Severity:
    word = str(entry.get("database_specific", {}).get("severity", "")).lower()
    if word in _WORDS:
        return _WORDS[word]
    for item in entry.get("severity", []):
        score = _cvss_number(str(item.get("score", "")))
        if score is not None:
            return _from_cvss(score)
    return Severity.MEDIUM


def _cvss_number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _from_cvss(score: float) -> Severity:
    if score >= 9:
        return Severity.CRITICAL
    if score >= 7:
        return Severity.HIGH
    if score >= 4:
        return Severity.MEDIUM
    return Severity.LOW if score > 0 else Severity.INFO


def _first_fixed(entry: dict[str, Any], name: str | None) -> str:
    for affected in entry.get("affected", []):
        if name and affected.get("package", {}).get("name") != name:
            continue
        for events in (r.get("events", []) for r in affected.get("ranges", [])):
            for event in events:
                if "fixed" in event:
                    return str(event["fixed"])
    return ""


def _affects(entry: dict[str, Any], name: str, version: str) -> str | None:
    """The fixed version if ``entry`` affects npm ``name`` at ``version``,
    ``""`` if affected with no fix, ``None`` if not affected."""
    for affected in entry.get("affected", []):
        package = affected.get("package", {})
        if (
            package.get("name") != name
            or package.get("ecosystem", "npm").lower() != "npm"
        ):
            continue
        if version in affected.get("versions", []):
            return _first_fixed(entry, name)
        for rng in affected.get("ranges", []):
            fixed = _in_range(rng.get("events", []), version)
            if fixed is not None:
                return fixed
    return None


def _in_range(events: list[dict[str, str]], version: str) -> str | None:
    introduced, current = None, _semver(version)
    for event in events:
        if "introduced" in event:
            introduced = (
                _semver(event["introduced"]) if event["introduced"] != "0" else ()
            )
        elif "fixed" in event and introduced is not None:
            if introduced <= current < _semver(event["fixed"]):
                return event["fixed"]
            introduced = None
        elif "last_affected" in event and introduced is not None:
            if introduced <= current <= _semver(event["last_affected"]):
                return ""
            introduced = None
    if introduced is not None and introduced <= current:
        return ""
    return None


def _semver(text: str) -> tuple[Any, ...]:
    """A sortable key: numbers first, and a pre-release sorts before its release."""
    core, _, pre = text.lstrip("v=").partition("-")
    numbers = tuple(int(n) for n in re.findall(r"\d+", core)[:3])
    numbers += (0,) * (3 - len(numbers))
    return (*numbers, 0 if pre else 1, pre)


def _installed(lock: dict[str, Any]) -> Iterator[tuple[str, str]]:
    packages = lock.get("packages")
    if isinstance(packages, dict):  # lockfile versions 2 and 3
        for path, meta in packages.items():
            if path and "version" in meta:
                yield path.rsplit("node_modules/", 1)[-1], str(meta["version"])
        return
    yield from _walk_v1(lock.get("dependencies", {}))


def _walk_v1(dependencies: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for name, meta in dependencies.items():
        if "version" in meta:
            yield name, str(meta["version"])
        yield from _walk_v1(meta.get("dependencies", {}))


def _direct_names(lock: dict[str, Any]) -> set[str]:
    root = lock.get("packages", {}).get("", {})
    return {
        name
        for key in ("dependencies", "devDependencies", "optionalDependencies")
        for name in root.get(key, {})
    }


def _load_json(path: str | Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{path}: cannot read it as JSON ({exc})") from exc
