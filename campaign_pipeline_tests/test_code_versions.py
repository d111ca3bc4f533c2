"""Code versions derived from source (``campaign_pipeline.code_versions``).

The acceptance test of the issue: changing the default reference date changes the
``code_version`` of ``engineered_customers`` and of every asset downstream of it, and
leaves ``raw_customers`` and ``cleaned_customers`` as they were. It edits a copy of the
package, never the working tree, and loads the copy in a fresh interpreter.
"""

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path


from campaign_pipeline.code_versions import source_fingerprint, with_derived_code_versions
from campaign_pipeline.definitions import build_definitions, defs

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "campaign_pipeline"
REFERENCE_DATE_LITERAL = '"2014-12-31"'
DEFAULT_DEFINITION = re.compile(r'^DEFAULT_REFERENCE_DATE\s*(:[^=]*)?=\s*"2014-12-31"', re.MULTILINE)
CHANGED_LITERAL = '"2015-06-30"'

PRINT_VERSIONS = """
import json, campaign_pipeline
from campaign_pipeline.definitions import defs
print(json.dumps({
    "package": campaign_pipeline.__file__,
    "versions": {s.key.to_user_string(): s.code_version for s in defs.resolve_all_asset_specs()},
}))
"""


def code_versions(definitions=defs) -> dict[str, str | None]:
    return {spec.key.to_user_string(): spec.code_version for spec in definitions.resolve_all_asset_specs()}


def downstream_of(key: str) -> set[str]:
    children: dict[str, set[str]] = {}
    for spec in defs.resolve_all_asset_specs():
        for dep in spec.deps:
            children.setdefault(dep.asset_key.to_user_string(), set()).add(spec.key.to_user_string())
    found, frontier = set(), [key]
    while frontier:
        for child in children.get(frontier.pop(), ()):
            if child not in found:
                found.add(child)
                frontier.append(child)
    return found


def files_with_literal(package: Path) -> dict[Path, int]:
    """Python files under ``package`` holding the reference date literal, with the count."""
    counts = {path: path.read_text().count(REFERENCE_DATE_LITERAL) for path in sorted(package.rglob("*.py"))}
    return {path: count for path, count in counts.items() if count}


def test_every_asset_has_a_derived_code_version():
    versions = code_versions()
    assert versions, "no assets"
    for key, version in versions.items():
        assert version is not None and re.fullmatch(r"[0-9a-f]{16}", version), (key, version)


def test_code_versions_do_not_depend_on_the_run():
    assert code_versions(build_definitions(data_dir="elsewhere")) == code_versions()


def test_default_reference_date_is_written_once():
    found = files_with_literal(PACKAGE_DIR)
    assert sum(found.values()) == 1, (
        f"The default reference date {REFERENCE_DATE_LITERAL} should be written in one place under "
        f"campaign_pipeline/, not: " + ", ".join(f"{p.relative_to(PACKAGE_DIR.parent)} ({n}x)" for p, n in found.items())
    )


def test_changing_the_default_reference_date_changes_engineered_customers_and_downstream(tmp_path):
    copy = tmp_path / "campaign_pipeline"
    shutil.copytree(PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    found = files_with_literal(copy)
    if sum(found.values()) == 1:
        (where,) = found
    else:
        # Until the literal is written once (see test_default_reference_date_is_written_once),
        # edit the file that defines DEFAULT_REFERENCE_DATE.
        defining = [path for path in found if DEFAULT_DEFINITION.search(path.read_text())]
        assert len(defining) == 1, (
            f"{REFERENCE_DATE_LITERAL} occurs in {', '.join(f'{p.relative_to(tmp_path)} ({n}x)' for p, n in found.items()) or 'no file'}"
            f", and {len(defining)} file(s) define DEFAULT_REFERENCE_DATE with it: cannot tell which default to change"
        )
        (where,) = defining
    text = where.read_text()
    where.write_text(
        text.replace(REFERENCE_DATE_LITERAL, CHANGED_LITERAL)
        if text.count(REFERENCE_DATE_LITERAL) == 1
        else DEFAULT_DEFINITION.sub(lambda m: m.group(0).replace(REFERENCE_DATE_LITERAL, CHANGED_LITERAL), text)
    )

    env = {**os.environ, "PYTHONPATH": str(tmp_path), "CAMPAIGN_DATA_DIR": str(tmp_path / "data")}
    env.pop("CAMPAIGN_RAW_CSV", None)
    result = subprocess.run(
        [sys.executable, "-c", PRINT_VERSIONS], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(printed["package"]).is_relative_to(copy), f"the copy was not imported: {printed['package']}"

    before, after = code_versions(), printed["versions"]
    assert before.keys() == after.keys()
    changed = {key for key in before if before[key] != after[key]}
    expected = {"engineered_customers"} | downstream_of("engineered_customers")
    assert changed == expected, f"changed {sorted(changed)}, expected {sorted(expected)}"
    assert {"raw_customers", "cleaned_customers"}.isdisjoint(changed)


SAMPLE = """
RATE = {rate}
START = {start}
LABELS = ("a", "b")


def helper(x):
    return x * RATE


def unrelated():
    return {unrelated}


def compute(x: int = START) -> float:
    return helper(x) + len(LABELS)
"""


def sample_fingerprint(directory: Path, rate: str = "0.5", start: str = "1", unrelated: str = "1") -> str:
    """Fingerprint of ``compute`` in a fresh module ``fingerprint_sample`` written to
    ``directory`` (the same module name each time: it is part of every qualified name)."""
    directory.mkdir()
    (directory / "fingerprint_sample.py").write_text(SAMPLE.format(rate=rate, start=start, unrelated=unrelated))
    sys.path.insert(0, str(directory))
    try:
        module = importlib.import_module("fingerprint_sample")
        return source_fingerprint(module.compute, packages=("fingerprint_sample",))
    finally:
        sys.path.remove(str(directory))
        sys.modules.pop("fingerprint_sample", None)


def test_source_fingerprint_follows_constants_and_callees_but_not_unrelated_code(tmp_path):
    reference = sample_fingerprint(tmp_path / "base")
    assert re.fullmatch(r"[0-9a-f]{64}", reference)
    assert sample_fingerprint(tmp_path / "again") == reference
    assert sample_fingerprint(tmp_path / "rate", rate="0.75") != reference, "a constant its callee reads changed"
    assert sample_fingerprint(tmp_path / "start", start="2") != reference, "a default argument named by it changed"
    assert sample_fingerprint(tmp_path / "unrelated", unrelated="2") == reference, "code it never reads changed"


ASSETS_SAMPLE = """
from dagster import AssetCheckSpec, RetryPolicy, asset

FACTOR = {factor}


@asset(code_version="1", retry_policy=RetryPolicy(max_retries=2), check_specs=[AssetCheckSpec("ok", asset="upstream")])
def upstream():
    return FACTOR


@asset(code_version="1", io_manager_key="other_io_manager")
def downstream(upstream):
    return upstream + 1
"""


def sample_versions(directory: Path, factor: str) -> dict[str, object]:
    """``with_derived_code_versions`` over two small assets in a fresh module."""
    directory.mkdir()
    (directory / "versions_sample.py").write_text(ASSETS_SAMPLE.format(factor=factor))
    sys.path.insert(0, str(directory))
    try:
        module = importlib.import_module("versions_sample")
        derived = with_derived_code_versions([module.upstream, module.downstream], packages=("versions_sample",))
        return {assets_def.key.to_user_string(): assets_def for assets_def in derived}
    finally:
        sys.path.remove(str(directory))
        sys.modules.pop("versions_sample", None)


def test_derived_versions_replace_the_decorators_and_keep_everything_else(tmp_path):
    base = sample_versions(tmp_path / "base", "2")
    upstream, downstream = base["upstream"], base["downstream"]
    for assets_def in base.values():
        assert re.fullmatch(r"[0-9a-f]{16}", assets_def.specs_by_key[assets_def.key].code_version)
    assert [spec.name for spec in upstream.check_specs] == ["ok"]
    assert upstream.op.retry_policy.max_retries == 2
    assert downstream.get_io_manager_key_for_asset_key(downstream.key) == "other_io_manager"

    changed = sample_versions(tmp_path / "changed", "3")

    def version(assets, key):
        return assets[key].specs_by_key[assets[key].key].code_version

    assert version(changed, "upstream") != version(base, "upstream")
    # downstream's own source did not change; it changes because its upstream did
    assert version(changed, "downstream") != version(base, "downstream")
