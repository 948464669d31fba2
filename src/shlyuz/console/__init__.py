"""The web console (docs/console.md): static pages under ``/ui/`` and the JSON, SVG and event-stream endpoints they
read (``/ui/api/...``). Pages are plain HTML, CSS and ES modules shipped in ``static/`` (no build step)."""
