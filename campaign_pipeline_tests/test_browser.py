"""The web UI in a real browser: ``dagster dev`` (webserver and daemon) on a free loopback port
with a temporary ``DAGSTER_HOME`` and data directory, driven by Playwright with the system's
Chromium. What a user sees is checked, not what GraphQL returns (``test_webserver_graphql.py``
does that): every asset node on the lineage graph, "Materialize all" ending in a successful run,
the retargeting table and chart on the ``retargeting_impact`` page, the schedules and sensor
switched on under Automation.

Chromium comes from the system (``/usr/bin/chromium``, or ``CAMPAIGN_CHROMIUM``), never from
``playwright install``. Without Playwright or Chromium the tests skip; in CI (``CI`` set) they
fail. Screenshots of every step go to ``CAMPAIGN_SCREENSHOT_DIR`` (default: the test's temporary
directory); ``CAMPAIGN_SCREENSHOT_DIR=docs/img`` refreshes the README's pictures."""

import os
import re
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from campaign_pipeline.assets.impact import IMPACT_COLUMNS_SHOWN
from campaign_pipeline_tests.harness import free_port, stop_group, wait_until_serving
from campaign_pipeline_tests.harness import EXPECTED_DEPENDENCIES, EXPECTED_SCHEDULES, EXPECTED_SENSORS

pytestmark = pytest.mark.browser

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
# Wide enough for every node of the expanded graph at a zoom that still draws their labels.
VIEWPORT = {"width": 1800, "height": 1800}
ZOOM_OUT_CLICKS = 8
RUN_TIMEOUT_MS = 6 * 60 * 1000  # 2,240 synthetic customers take ~30 s; slow machines get room.
IMPACT_CHART = "impact chart"  # the title ``impact.py`` gives ``metadata.chart``

# The asset node labels of the zoomed-out graph: "nodes" by their CSS module class.
ASSET_NODE_LABEL = "[class*=AssetNode_assetName]"



def _screenshot_dir(tmp_path_factory) -> Path:
    configured = os.environ.get("CAMPAIGN_SCREENSHOT_DIR")
    if configured:
        directory = Path(configured)
        directory = directory if directory.is_absolute() else REPOSITORY_ROOT / directory
    else:
        directory = tmp_path_factory.mktemp("screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture(scope="module")
def dagster_dev(tmp_path_factory):
    """``dagster dev`` as the README starts it, in its own process group so teardown ends the
    webserver, daemon and code servers together."""
    home = tmp_path_factory.mktemp("dagster_home")
    shutil.copy(REPOSITORY_ROOT / "dagster.yaml", home / "dagster.yaml")
    data_dir = tmp_path_factory.mktemp("data")
    port = free_port()
    command = [str(Path(sys.executable).parent / "dagster"), "dev", "-h", "127.0.0.1", "-p", str(port),
               "-m", "campaign_pipeline.definitions"]  # fmt: skip
    env = {**os.environ, "DAGSTER_HOME": str(home), "CAMPAIGN_DATA_DIR": str(data_dir)}
    env.pop("CAMPAIGN_RAW_CSV", None)  # the seeded synthetic sample: small and the same everywhere
    log = home / "dagster_dev.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            command, cwd=home, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(server, url, log, timeout_seconds=180)
        yield url, log
    finally:
        stop_group(server)


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    return _screenshot_dir(tmp_path_factory)


@pytest.fixture(scope="module")
def page(browser, dagster_dev):
    url, _ = dagster_dev
    context = browser.new_context(viewport=VIEWPORT, base_url=url)
    context.set_default_timeout(60_000)
    opened = context.new_page()
    # A fresh instance greets the first visit with a newsletter dialog; answer it whenever it shows.
    opened.add_locator_handler(
        opened.get_by_text("Join the Dagster community"), lambda: opened.get_by_role("button", name="Skip").click()
    )
    yield opened
    context.close()


@contextmanager
def _step(page, screenshots: Path, name: str):
    """Run one step; on failure keep a screenshot of what the browser showed next to the others."""
    try:
        yield
    except Exception:
        try:
            page.screenshot(path=screenshots / f"failed-{name}.png")
        except Exception:  # a dead browser must not hide the original failure
            pass
        raise


def _label_matches(label: str, name: str) -> bool:
    """The zoomed-out graph truncates long names in the middle: ``enginee…_customers``."""
    if "…" not in label:
        return label == name
    head, tail = label.split("…", 1)
    return name.startswith(head) and name.endswith(tail) and len(name) >= len(head) + len(tail)


def test_truncated_labels_match_only_their_asset():
    assert _label_matches("raw_customers", "raw_customers")
    assert _label_matches("enginee…_customers", "engineered_customers")
    assert not _label_matches("enginee…_customers", "cleaned_customers")
    assert not _label_matches("raw_customers", "raw_customers_2")
    assert not _label_matches("ab…ba", "aba")  # head and tail may not overlap


def _show_graph(page, roomy: bool = False):
    """The global lineage graph with every group expanded (groups start collapsed). ``roomy``
    hides the navigation and the asset tree first, so the graph is fitted to the wider pane."""
    from playwright.sync_api import expect

    page.goto("/asset-groups")
    collapsed = page.locator("[class*=CollapsedGroupNode_collapsedGroupNodeBox]")
    collapsed.or_(page.locator(ASSET_NODE_LABEL)).first.wait_for()
    if roomy:
        page.get_by_role("button", name="Hide navigation").click()
        page.get_by_role("button", name="panel_show_right").click()  # the asset tree's toggle
        expect(page.get_by_placeholder(re.compile("^Jump to"))).to_be_hidden()
    if collapsed.count():  # the expanded state is remembered between visits; Alt+e toggles it
        page.keyboard.press("Alt+e")  # "Expand all groups"
    # Expanding keeps the collapsed graph's zoom: zoom out with the graph's own button until
    # every node is drawn, as a person would.
    labels, zoom_out = page.locator(ASSET_NODE_LABEL), page.locator("button:has([aria-label=zoom_out])")
    for _ in range(ZOOM_OUT_CLICKS):
        if labels.count() >= len(EXPECTED_DEPENDENCIES):
            break
        zoom_out.click()
        page.wait_for_timeout(500)
    expect(labels).to_have_count(len(EXPECTED_DEPENDENCIES))


def test_asset_graph_shows_every_asset(page, screenshots):
    from playwright.sync_api import expect

    with _step(page, screenshots, "asset-graph"):
        _show_graph(page, roomy=True)
        labels = page.locator(ASSET_NODE_LABEL)
        shown = {}
        for index in range(labels.count()):
            node = labels.nth(index)
            expect(node).to_be_visible()
            box = node.bounding_box()
            assert box and box["x"] >= 0 and box["y"] >= 0, box
            assert box["x"] + box["width"] <= VIEWPORT["width"] and box["y"] + box["height"] <= VIEWPORT["height"], box
            shown[index] = node.inner_text().strip()
        # Each asset is matched by exactly one node and each node by exactly one asset.
        for name in EXPECTED_DEPENDENCIES:
            matching = [label for label in shown.values() if _label_matches(label, name)]
            assert len(matching) == 1, (name, sorted(shown.values()))
        for label in shown.values():
            assert sum(_label_matches(label, name) for name in EXPECTED_DEPENDENCIES) == 1, label
        page.screenshot(path=screenshots / "ui-asset-graph.png")


@pytest.fixture(scope="module")
def materialized_run(page, screenshots):
    """Click "Materialize all" on the graph and open the run it launches; returns the run's URL."""
    from playwright.sync_api import expect

    with _step(page, screenshots, "materialize-all"):
        _show_graph(page)
        page.get_by_role("button", name="Materialize all").click()
        launched = page.get_by_text(re.compile(r"^Launched run [0-9a-f]{8}$"))
        dialog = page.get_by_role("dialog")
        expect(launched.or_(dialog).first).to_be_visible()
        if dialog.is_visible():  # e.g. a launchpad if config were ever required
            dialog.get_by_role("button", name=re.compile("^(Launch|Materialize)")).click()
            expect(launched).to_be_visible()
        run_id_prefix = launched.inner_text().split()[-1]
        # The toast goes away after a few seconds; the runs list keeps the link.
        page.goto("/runs")
        page.locator(f"a[href^='/runs/{run_id_prefix}']").first.click()
        page.wait_for_url(re.compile(rf"/runs/{run_id_prefix}[0-9a-f-]{{28}}$"))
        return page.url


def test_materialize_all_run_succeeds(page, materialized_run, screenshots):
    from playwright.sync_api import expect

    with _step(page, screenshots, "run"):
        page.goto(materialized_run)
        status = page.get_by_text(re.compile(r"^(Success|Failure|Canceled)$")).first
        expect(status).to_be_visible(timeout=RUN_TIMEOUT_MS)
        assert status.inner_text() == "Success"
        expect(page.get_by_text("RUN_SUCCESS", exact=True)).to_be_visible()
        page.screenshot(path=screenshots / "ui-run-success.png")


def test_retargeting_impact_shows_table_and_chart(page, materialized_run, screenshots):
    from playwright.sync_api import expect

    with _step(page, screenshots, "retargeting-impact"):
        # The run may still be going when this test runs on its own.
        page.goto(materialized_run)
        expect(page.get_by_text("Success", exact=True).first).to_be_visible(timeout=RUN_TIMEOUT_MS)

        page.goto("/assets/retargeting_impact")

        def metadata_row(key: str):
            return page.locator("tr", has=page.locator("td:first-child", has_text=re.compile(f"^{key}$"))).first

        table = metadata_row("impact_table").locator("td").nth(2).locator("table")
        expect(table).to_be_visible()
        expect(table.locator("th")).to_have_text(IMPACT_COLUMNS_SHOWN)
        rows = table.locator("tbody tr")
        assert rows.count() >= 2, rows.count()
        recommended = IMPACT_COLUMNS_SHOWN.index("recommended")
        flags = [rows.nth(i).locator("td").nth(recommended).inner_text().strip().lower() for i in range(rows.count())]
        assert flags.count("true") == 1, flags  # exactly one cluster is recommended
        metadata_row("impact_table").scroll_into_view_if_needed()
        page.screenshot(path=screenshots / "ui-retargeting-impact-table.png")

        metadata_row(IMPACT_CHART).get_by_text("[Show Markdown]").click()
        dialog = page.get_by_role("dialog")
        image = dialog.get_by_role("img", name=IMPACT_CHART)
        expect(image).to_be_visible()
        assert image.get_attribute("src").startswith("data:image/png;base64,")
        assert image.evaluate("img => img.complete && img.naturalWidth > 200 && img.naturalHeight > 200")
        page.screenshot(path=screenshots / "ui-retargeting-impact-chart.png")
        dialog.get_by_role("button", name="Close").click()


def test_automation_shows_schedules_and_sensor_running(page, screenshots):
    from playwright.sync_api import expect

    with _step(page, screenshots, "automation"):
        page.goto("/automation")
        expected = {**EXPECTED_SCHEDULES, **EXPECTED_SENSORS}
        assert expected["nightly_rescore_schedule"] == "RUNNING"
        for name, status in expected.items():
            item = page.locator("[class*=ListItem_listItem__]", has=page.get_by_text(name, exact=True))
            expect(item).to_have_count(1)
            # The first checkbox selects the row; the last is the on/off switch.
            switch = item.locator("input[type=checkbox]").last
            if status == "RUNNING":
                expect(switch).to_be_checked()
            else:
                expect(switch).not_to_be_checked()
        page.screenshot(path=screenshots / "ui-automation.png")
