"""Tables, figures and the HTML/Markdown report of a run (plain Python + matplotlib, never Kedro)."""
