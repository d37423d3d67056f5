"""Offline HTML dashboards for OMTX-Hub screens: per-screen dashboard, index of screens,
progress of a running screen. See docs/dashboards.md."""
