"""Dashboard of the live-shopping lakehouse: the entry point, which lays out the pages.

Pages (dashboard/views/): Live, Retarget, Segments, Model and Pipeline health. They read the
Delta tables under the storage root of conf/lakehouse.toml (or LAKEHOUSE_ROOT) with the
deltalake package, never Spark, and the model registry with MLflow. docs/dashboard.md
describes each page. Run from the project folder:

    streamlit run dashboard/app.py

dashboard/.streamlit/config.toml makes it listen on 127.0.0.1 only. When
.streamlit/secrets.toml has an [auth] section (docs/dashboard.md), every page requires an
OpenID Connect login first.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

# `streamlit run` puts only this file's folder on sys.path and the project installs only the
# `lakehouse` package, so the project folder is added to import `dashboard.*`.
PROJECT_DIR = str(Path(__file__).resolve().parent.parent)
if PROJECT_DIR not in sys.path:
    sys.path.insert(0, PROJECT_DIR)

from dashboard import common  # noqa: E402

VIEWS = Path(__file__).resolve().parent / "views"
TITLE = "Live-shopping lakehouse"


def login_required() -> bool:
    """True when secrets.toml configures an identity provider ([auth])."""
    return st.secrets.load_if_toml_exists() and "auth" in st.secrets


st.set_page_config(page_title=TITLE, page_icon=":material/live_tv:", layout="wide")

if login_required():
    if not st.user.is_logged_in:
        st.title(TITLE)
        st.write("Log in to see the dashboard.")
        st.button("Log in", on_click=st.login, type="primary")
        st.stop()
    st.sidebar.caption(f"Logged in as {st.user.get('email') or st.user.get('name')}")
    st.sidebar.button("Log out", on_click=st.logout)

page = st.navigation(
    [
        st.Page(VIEWS / "live.py", title="Live", icon=":material/monitoring:", default=True),
        st.Page(
            VIEWS / "retarget.py",
            title="Retarget",
            icon=":material/ads_click:",
            url_path="retarget",
        ),
        st.Page(
            VIEWS / "segments.py", title="Segments", icon=":material/groups:", url_path="segments"
        ),
        st.Page(
            VIEWS / "model.py", title="Model", icon=":material/model_training:", url_path="model"
        ),
        st.Page(
            VIEWS / "health.py",
            title="Pipeline health",
            icon=":material/monitor_heart:",
            url_path="health",
        ),
    ],
    position="top",
)

settings = common.load_settings()
st.sidebar.header(TITLE)
st.sidebar.selectbox(
    "Refresh",
    common.refresh_choices(common.configured_refresh_seconds(settings)),
    format_func=common.format_refresh,
    key=common.REFRESH_KEY,
    help="How often the page re-reads the tables. The default is [dashboard] refresh_seconds.",
)
st.sidebar.caption(f"Tables under {common.display_root(settings.root)}")

page.run()
