"""key=value log lines (logfmt): one event per line, greppable and machine-parsable."""


def kv(**fields) -> str:
    """key=value pairs; a value is quoted when it is empty or holds spaces, quotes or '='."""
    parts = []
    for name, value in fields.items():
        text = "" if value is None else str(value)
        if not text or any(ch in text for ch in ' "=\\\n'):
            text = '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
        parts.append(f"{name}={text}")
    return " ".join(parts)
