"""What a person reads: report documents, their HTML and Markdown renderers, charts."""
