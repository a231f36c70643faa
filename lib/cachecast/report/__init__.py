"""Report: notebooks run with papermill into self-contained HTML, the Altair charts and the
helpers the notebooks call."""
