"""The README's configuration table lists every environment variable the settings read."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_environment_variable_is_in_the_configuration_table():
    settings_source = (ROOT / "hub" / "settings.py").read_text()
    read = set(re.findall(r'env_(?:str|bool|int|list)\(\s*"([A-Z_]+)"', settings_source))
    read |= set(re.findall(r'os\.environ\.get\(\s*"([A-Z_]+)"', settings_source)) - {"name"}
    for script in [ROOT / "scripts" / "serve.sh"]:  # `make run` reads DEPOT_WEB_WORKERS etc. there
        read |= set(re.findall(r"\$\{(DEPOT_[A-Z_]+):-", script.read_text()))
    # The web server's own settings: gunicorn's configuration and the HTTP timeouts.
    for module in ["gunicorn_conf.py", "server.py"]:
        source = (ROOT / "hub" / module).read_text()
        read |= set(re.findall(r'(?:os\.environ\.get|_seconds)\(\s*"(DEPOT_[A-Z_]+)"', source))
    assert read, "no environment variables found; did the settings helpers change?"
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([A-Z_]+)`", table, flags=re.MULTILINE))
    assert read - documented == set(), "undocumented settings"
    # Make variables a user may set (`make run PORT=9000`, `make test TEST_PROCESSES=0`) are documented too.
    make_variables = set(re.findall(r"^([A-Z_]+) \?=", (ROOT / "Makefile").read_text(), flags=re.MULTILINE))
    assert {"HOST", "PORT", "TEST_PROCESSES"} <= make_variables
    assert documented - read - make_variables == set(), "documented settings that nothing reads"
