"""Loading YAML and the environment into Settings: every error at once, each with its path."""

from __future__ import annotations

import base64
import copy
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from config.loader import load_settings
from config.settings import Settings
from monitor.errors import ConfigError

EXAMPLES = Path(__file__).resolve().parents[2] / "config" / "examples"
BROKEN_EXAMPLES = {"three-mistakes.yaml"}
"""Examples that are wrong on purpose; every other example must load."""

WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"s3cr3t-signing-key-0123456789ab").decode()
DB_PASSWORD = "Tr0ub4dor-and-3"
DB_URL = f"postgresql+psycopg://monitor:{DB_PASSWORD}@helpdesk-db.internal/helpdesk"


def config(**overrides: Any) -> dict[str, Any]:
    """A valid configuration as YAML data; keyword arguments replace top-level sections."""
    data: dict[str, Any] = {
        "store": {"url": "sqlite:///history.db"},
        "http": {"listen": "127.0.0.1:9464"},
        "sources": [
            {
                "kind": "sql",
                "name": "helpdesk",
                "url": "sqlite:///tickets.db",
                "interval": "5m",
                "mapping": {
                    "table": "tickets",
                    "queue": "group_name",
                    "status": "status",
                    "created_at": "created_at",
                    "open_statuses": ["new", "open", "pending"],
                },
            }
        ],
        "rules": [
            {
                "name": "BacklogHigh",
                "metric": "open_tickets",
                "match": {"status": "pending"},
                "reduce": "avg",
                "window": "2h",
                "threshold": 500,
            }
        ],
        "receivers": [{"kind": "webhook", "name": "ops", "url": "https://alerts.example.com/hook"}],
    }
    data.update(copy.deepcopy(overrides))
    return data


def load(data: dict[str, Any]) -> Settings:
    return load_settings(text=yaml.safe_dump(data, sort_keys=False))


def problems(data: dict[str, Any] | str) -> list[tuple[str, str]]:
    """The (path, message) pairs of a configuration that must fail."""
    text = data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False)
    with pytest.raises(ConfigError) as info:
        load_settings(text=text)
    return info.value.problems


def paths(found: list[tuple[str, str]]) -> list[str]:
    return [path for path, _ in found]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No BACKLOG_MONITOR_... variable of the caller leaks into these tests."""
    for name in list(os.environ):
        if name.upper().startswith("BACKLOG_MONITOR_"):
            monkeypatch.delenv(name)


class TestValidConfig:
    def test_loads(self) -> None:
        """A valid configuration loads into typed, frozen settings."""
        settings = load(config())
        assert settings.sources[0].interval == timedelta(minutes=5)
        assert settings.rules[0].window == timedelta(hours=2)
        assert str(settings.receivers[0].url) == "https://alerts.example.com/hook"

    def test_empty_text_gives_defaults(self) -> None:
        """An empty file is a valid configuration made of the defaults."""
        settings = load_settings(text="")
        assert settings.store.url == "sqlite:///backlog-monitor.db"
        assert settings.http.listen == "127.0.0.1:9464"
        assert settings.sources == []

    def test_reads_a_file(self, tmp_path: Path) -> None:
        """A configuration file given by path is read."""
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config()), encoding="utf-8")
        assert load_settings(path).sources[0].name == "helpdesk"

    def test_missing_file_is_a_config_error(self, tmp_path: Path) -> None:
        """A configuration file that cannot be read is a ConfigError naming it."""
        path = tmp_path / "absent.yaml"
        with pytest.raises(ConfigError, match=r"cannot read .*absent\.yaml"):
            load_settings(path)


class TestErrorsAllAtOnce:
    def test_every_error_listed_with_its_path(self) -> None:
        """Errors in different sections are all reported together, each with its path."""
        data = config()
        data["sources"][0]["interval"] = "5x"
        data["http"]["listen"] = "nowhere"
        data["store"]["raw_retention"] = -3
        data["receivers"][0]["url"] = "not a url"
        data["rules"][0]["op"] = "=~"
        found = problems(data)
        assert sorted(paths(found)) == sorted(
            [
                "sources -> 0 -> interval",
                "http -> listen",
                "store -> raw_retention",
                "receivers -> 0 -> url",
                "rules -> 0 -> op",
            ]
        )
        assert dict(found)["sources -> 0 -> interval"].startswith("invalid duration '5x'")
        assert dict(found)["store -> raw_retention"] == "a duration cannot be negative"

    def test_message_lists_every_problem(self) -> None:
        """The error text counts the problems and gives one ``path: message`` line each."""
        data = config()
        data["sources"][0]["interval"] = "5x"
        data["evaluation"] = {"interval": "soon"}
        with pytest.raises(ConfigError) as info:
            load_settings(text=yaml.safe_dump(data))
        lines = str(info.value).splitlines()
        assert lines[0] == "Detected 2 errors in configuration:"
        assert lines[1].startswith("  evaluation -> interval: invalid duration 'soon'")
        assert lines[2].startswith("  sources -> 0 -> interval: invalid duration '5x'")

    def test_file_errors_name_the_file(self, tmp_path: Path) -> None:
        """Errors in a file are reported against that file's name."""
        path = tmp_path / "bad.yaml"
        path.write_text("evaluation: {interval: 5x}\n", encoding="utf-8")
        with pytest.raises(ConfigError, match=r"Detected 1 error in .*bad\.yaml:"):
            load_settings(path)

    def test_unknown_kind_lists_known_kinds(self) -> None:
        """An unknown source kind is reported at the source, with the known kinds."""
        data = config()
        data["sources"][0]["kind"] = "bugzilla"
        ((where, message),) = problems(data)
        assert where == "sources -> 0"
        assert message.startswith("unknown kind 'bugzilla'; known: ")
        assert "sql" in message.removeprefix("unknown kind 'bugzilla'; known: ").split(", ")

    def test_rule_error_has_rule_path(self) -> None:
        """A rule whose reduce needs a window reports at that rule."""
        data = config()
        del data["rules"][0]["window"]
        assert problems(data) == [
            ("rules -> 0", "reduce: avg needs a window, e.g. window: 2h"),
        ]

    def test_missing_required_field(self) -> None:
        """A missing required field is reported at its own path."""
        data = config()
        del data["rules"][0]["threshold"]
        assert problems(data) == [("rules -> 0 -> threshold", "Field required")]


class TestUnknownKeys:
    @pytest.mark.parametrize(
        ("where", "path"),
        [
            (lambda d: d.update(colour="blue"), "colour"),
            (lambda d: d["store"].update(uri="x"), "store -> uri"),
            (lambda d: d["sources"][0].update(poll="5m"), "sources -> 0 -> poll"),
            (
                lambda d: d["sources"][0]["mapping"].update(owner="x"),
                "sources -> 0 -> mapping -> owner",
            ),
            (lambda d: d["rules"][0].update(treshold=5), "rules -> 0 -> treshold"),
            (lambda d: d["receivers"][0].update(token="x"), "receivers -> 0 -> token"),
        ],
    )
    def test_rejected_with_path(self, where: Any, path: str) -> None:
        """An unknown key anywhere is an error at its exact path."""
        data = config()
        where(data)
        assert problems(data) == [(path, "unknown key")]


class TestYamlSyntax:
    def test_syntax_error_gives_line_and_column(self) -> None:
        """A YAML syntax error says where it is, as line and column."""
        text = "store:\n  url: sqlite:///x.db\nsources: [1, 2\nrules: []\n"
        ((where, message),) = problems(text)
        assert where == "line 4, column 6"
        assert message.startswith("invalid YAML: ")

    def test_tab_indentation(self) -> None:
        """A tab where YAML forbids it is reported with its position."""
        ((where, message),) = problems("store:\n\turl: x\n")
        assert where == "line 2, column 1"
        assert "invalid YAML" in message

    @pytest.mark.parametrize("text", ["- a\n- b\n", "just text\n", "42\n"])
    def test_top_level_must_be_a_mapping(self, text: str) -> None:
        """A document that is not a mapping is one clear error."""
        assert problems(text) == [("", "the top level must be a mapping of settings")]


class TestEnvironment:
    def test_store_url_overrides_yaml(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """BACKLOG_MONITOR_STORE__URL wins over store.url in the file."""
        monkeypatch.setenv("BACKLOG_MONITOR_STORE__URL", "postgresql+psycopg://db/history")
        assert load(config()).store.url == "postgresql+psycopg://db/history"

    def test_http_listen_overrides_yaml(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """BACKLOG_MONITOR_HTTP__LISTEN wins over http.listen in the file."""
        monkeypatch.setenv("BACKLOG_MONITOR_HTTP__LISTEN", "0.0.0.0:9999")
        settings = load(config())
        assert settings.http.listen == "0.0.0.0:9999"
        assert (settings.http.host, settings.http.port) == ("0.0.0.0", 9999)

    def test_override_keeps_sibling_keys(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Overriding one nested key keeps the file's other keys of that section."""
        monkeypatch.setenv("BACKLOG_MONITOR_STORE__URL", "sqlite:///env.db")
        settings = load(config(store={"url": "sqlite:///file.db", "raw_retention": "3d"}))
        assert settings.store.url == "sqlite:///env.db"
        assert settings.store.raw_retention == timedelta(days=3)

    def test_override_without_file(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The environment alone configures the daemon when there is no file."""
        monkeypatch.setenv("BACKLOG_MONITOR_LOG_LEVEL", "DEBUG")
        monkeypatch.setenv("BACKLOG_MONITOR_EVALUATION__INTERVAL", "30s")
        settings = load_settings()
        assert settings.log_level == "DEBUG"
        assert settings.evaluation.interval == timedelta(seconds=30)

    def test_duration_as_bare_seconds(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A duration variable written as a plain number is seconds, as in YAML."""
        monkeypatch.setenv("BACKLOG_MONITOR_SCHEDULER__JITTER", "0")
        monkeypatch.setenv("BACKLOG_MONITOR_EVALUATION__INTERVAL", "60")
        settings = load_settings()
        assert settings.scheduler.jitter == timedelta(0)
        assert settings.evaluation.interval == timedelta(seconds=60)

    def test_list_as_json(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A list setting is given as JSON and replaces the file's list."""
        monkeypatch.setenv(
            "BACKLOG_MONITOR_RECEIVERS",
            '[{"kind": "webhook", "name": "ops", "url": "https://env.example.com/h"}]',
        )
        assert str(load(config()).receivers[0].url) == "https://env.example.com/h"

    def test_bad_value_is_located(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """An invalid value from the environment is reported at its settings path."""
        monkeypatch.setenv("BACKLOG_MONITOR_HTTP__LISTEN", "nowhere")
        assert paths(problems(config())) == ["http -> listen"]

    def test_unknown_variable_is_an_error(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A BACKLOG_MONITOR_ variable that names no setting is an error naming it."""
        monkeypatch.setenv("BACKLOG_MONITOR_STORE_URL", "sqlite:///typo.db")
        ((where, message),) = problems(config())
        assert where == "BACKLOG_MONITOR_STORE_URL"
        assert "unknown setting 'store_url'" in message

    def test_unknown_nested_variable_is_an_error(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A variable naming an unknown key inside a section is an unknown key there."""
        monkeypatch.setenv("BACKLOG_MONITOR_STORE__URI", "sqlite:///typo.db")
        assert problems(config()) == [("store -> uri", "unknown key")]

    def test_unknown_variable_reported_with_file_errors(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Unknown variables are listed together with the file's errors."""
        monkeypatch.setenv("BACKLOG_MONITOR_COLOUR", "blue")
        data = config()
        data["sources"][0]["interval"] = "5x"
        assert paths(problems(data)) == ["BACKLOG_MONITOR_COLOUR", "sources -> 0 -> interval"]

    def test_config_variable_is_not_a_setting(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """BACKLOG_MONITOR_CONFIG belongs to the command line and is not an error."""
        monkeypatch.setenv("BACKLOG_MONITOR_CONFIG", "/etc/backlog-monitor/config.yaml")
        assert load(config()).sources[0].name == "helpdesk"

    def test_malformed_json_is_a_config_error(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A list variable that is not JSON is a ConfigError, not a crash, and hides its value."""
        monkeypatch.setenv("BACKLOG_MONITOR_SOURCES", f'[{{"url": "{DB_URL}"')
        ((where, message),) = problems(config())
        assert where == "environment"
        assert "sources" in message
        assert DB_PASSWORD not in message


class TestSecretFiles:
    def test_url_file_is_read(self, tmp_path: Path) -> None:
        """A source's url_file is read, trailing newline stripped, and kept secret."""
        secret = tmp_path / "db-url"
        secret.write_text(DB_URL + "\n", encoding="utf-8")
        data = config()
        del data["sources"][0]["url"]
        data["sources"][0]["url_file"] = str(secret)
        source = load(data).sources[0]
        assert source.database_url() == DB_URL
        assert DB_PASSWORD not in repr(source)

    def test_secret_file_is_read(self, tmp_path: Path) -> None:
        """A receiver's secret_file is read into its secret."""
        secret = tmp_path / "webhook-secret"
        secret.write_text(WEBHOOK_SECRET + "\n", encoding="utf-8")
        data = config()
        data["receivers"][0]["secret_file"] = str(secret)
        receiver = load(data).receivers[0]
        assert receiver.secret is not None
        assert receiver.secret.get_secret_value() == WEBHOOK_SECRET

    def test_url_and_url_file_is_an_error(self, tmp_path: Path) -> None:
        """Giving both url and url_file is an error at the source."""
        secret = tmp_path / "db-url"
        secret.write_text(DB_URL, encoding="utf-8")
        data = config()
        data["sources"][0]["url_file"] = str(secret)
        assert problems(data) == [("sources -> 0", "give at most one of url and url_file")]

    def test_secret_and_secret_file_is_an_error(self, tmp_path: Path) -> None:
        """Giving both secret and secret_file is an error at the receiver."""
        secret = tmp_path / "webhook-secret"
        secret.write_text(WEBHOOK_SECRET, encoding="utf-8")
        data = config()
        data["receivers"][0].update(secret=WEBHOOK_SECRET, secret_file=str(secret))
        assert problems(data) == [
            ("receivers -> 0", "give at most one of secret and secret_file"),
        ]

    def test_url_or_url_file_is_required(self) -> None:
        """A source with neither url nor url_file is an error."""
        data = config()
        del data["sources"][0]["url"]
        assert problems(data) == [("sources -> 0", "one of url and url_file is required")]

    def test_missing_file_is_an_error_with_paths(self, tmp_path: Path) -> None:
        """A url_file that does not exist is an error at the source naming the file."""
        missing = tmp_path / "no-such-secret"
        data = config()
        del data["sources"][0]["url"]
        data["sources"][0]["url_file"] = str(missing)
        ((where, message),) = problems(data)
        assert where == "sources -> 0"
        assert message == f"cannot read url_file {str(missing)!r}: No such file or directory"

    def test_directory_is_an_unreadable_file(self, tmp_path: Path) -> None:
        """A secret_file that is a directory is an error at the receiver naming it."""
        data = config()
        data["receivers"][0]["secret_file"] = str(tmp_path)
        ((where, message),) = problems(data)
        assert where == "receivers -> 0"
        assert message.startswith(f"cannot read secret_file {str(tmp_path)!r}")


class TestReferences:
    def test_duplicate_names(self) -> None:
        """Duplicate names are reported at every occurrence, per section."""
        data = config()
        data["sources"].append(copy.deepcopy(data["sources"][0]))
        data["rules"].append(copy.deepcopy(data["rules"][0]))
        data["receivers"].append(copy.deepcopy(data["receivers"][0]))
        assert problems(data) == [
            ("sources -> 0 -> name", "duplicate name 'helpdesk'"),
            ("sources -> 1 -> name", "duplicate name 'helpdesk'"),
            ("receivers -> 0 -> name", "duplicate name 'ops'"),
            ("receivers -> 1 -> name", "duplicate name 'ops'"),
            ("rules -> 0 -> name", "duplicate name 'BacklogHigh'"),
            ("rules -> 1 -> name", "duplicate name 'BacklogHigh'"),
        ]

    def test_unknown_receiver_reference(self) -> None:
        """A rule naming a receiver that does not exist is an error at its receivers."""
        data = config()
        data["rules"][0]["receivers"] = ["ops", "pager"]
        assert problems(data) == [("rules -> 0 -> receivers", "no receiver named 'pager'")]

    def test_unknown_source_reference(self) -> None:
        """A rule matching a source that does not exist is an error at its matcher."""
        data = config()
        data["rules"][0]["match"]["source"] = "zendesk"
        assert problems(data) == [("rules -> 0 -> match -> source", "no source named 'zendesk'")]

    def test_all_reference_problems_at_once(self) -> None:
        """Every reference problem is listed together."""
        data = config()
        data["rules"][0]["receivers"] = ["pager"]
        data["rules"].append({**copy.deepcopy(data["rules"][0]), "receivers": ["sms"]})
        assert problems(data) == [
            ("rules -> 0 -> name", "duplicate name 'BacklogHigh'"),
            ("rules -> 1 -> name", "duplicate name 'BacklogHigh'"),
            ("rules -> 0 -> receivers", "no receiver named 'pager'"),
            ("rules -> 1 -> receivers", "no receiver named 'sms'"),
        ]


def _stand_in_files(node: Any, folder: Path) -> Any:
    """Replace every ``*_file`` path with a real file holding a plausible secret."""
    contents = {
        "secret_file": WEBHOOK_SECRET,
        "url_file": "sqlite:///stand-in.db",
        "routing_key_file": "0123456789abcdef0123456789abcdef",
        "private_key_file": "-----BEGIN PRIVATE KEY-----\nstand-in\n-----END PRIVATE KEY-----",
    }
    if isinstance(node, list):
        return [_stand_in_files(item, folder) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in contents and isinstance(value, str):
            path = folder / f"stand-in-{len(list(folder.iterdir()))}"
            text = contents[key]
            if node.get("kind") == "slack" and key == "url_file":
                text = "https://hooks.slack.com/services/T000/B000/XXXX"
            path.write_text(text + "\n", encoding="utf-8")
            value = str(path)
        out[key] = _stand_in_files(value, folder)
    return out


class TestExamples:
    @pytest.mark.parametrize(
        "example",
        sorted(p for p in EXAMPLES.glob("*.yaml") if p.name not in BROKEN_EXAMPLES),
        ids=lambda p: p.name,
    )
    def test_example_loads(
        self, example: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Every example configuration is valid (secret files and the environment variables
        named by ``*_env`` are provided by the test)."""
        data = yaml.safe_load(example.read_text(encoding="utf-8"))
        for source in data.get("sources", []):
            for key, value in source.items():
                if key.endswith("_env"):
                    monkeypatch.setenv(value, f"stand-in for {key}")
        settings = load(_stand_in_files(data, tmp_path))
        assert settings.sources, f"{example.name} configures no source"

    def test_examples_exist(self) -> None:
        """The minimal example and the broken example are both shipped."""
        names = {p.name for p in EXAMPLES.glob("*.yaml")}
        assert {"minimal.yaml", "three-mistakes.yaml"} <= names

    def test_minimal_has_the_seed_rule_both_ways(self, tmp_path: Path) -> None:
        """minimal.yaml writes the seed rule as a 2h average and as a 2h ``for``."""
        data = yaml.safe_load((EXAMPLES / "minimal.yaml").read_text(encoding="utf-8"))
        rules = {r.name: r for r in load(_stand_in_files(data, tmp_path)).rules}
        avg, held = rules["BacklogHighAvg2h"], rules["BacklogHighFor2h"]
        assert (avg.reduce, avg.window, avg.for_) == ("avg", timedelta(hours=2), timedelta(0))
        assert (held.reduce, held.window, held.for_) == ("last", timedelta(0), timedelta(hours=2))
        for rule in (avg, held):
            assert (rule.metric, rule.op, rule.threshold) == ("open_tickets", ">", 500)
            assert rule.match == {"status": "pending"}

    def test_three_mistakes_has_exactly_three(self) -> None:
        """three-mistakes.yaml fails with exactly its three documented mistakes."""
        with pytest.raises(ConfigError) as info:
            load_settings(EXAMPLES / "three-mistakes.yaml")
        assert paths(info.value.problems) == [
            "sources -> 0 -> interval",
            "rules -> 0 -> severty",
            "receivers -> 0 -> url",
        ]


class TestSecretsNotInErrors:
    def test_inline_secrets_absent_from_errors(self) -> None:
        """Errors beside inline secrets never repeat the secrets."""
        data = config()
        data["sources"][0].update(url=DB_URL, interval="5x")
        data["receivers"][0].update(secret=WEBHOOK_SECRET, timeout="forever")
        text = _error_text(data)
        assert "Detected 2 errors" in text
        assert DB_PASSWORD not in text
        assert WEBHOOK_SECRET not in text

    def test_secret_of_wrong_type_not_echoed(self) -> None:
        """A secret given with the wrong type is rejected without echoing it."""
        data = config()
        data["sources"][0]["url"] = {"value": DB_URL}
        text = _error_text(data)
        assert "sources -> 0 -> url" in text
        assert DB_PASSWORD not in text

    def test_malformed_webhook_secret_not_echoed(self) -> None:
        """A webhook secret that is not whsec_ base64 is rejected without echoing it."""
        data = config()
        data["receivers"][0]["secret"] = "correct-horse-battery-staple"
        text = _error_text(data)
        assert "secret must be whsec_ followed by base64" in text
        assert "correct-horse" not in text

    def test_secret_file_content_not_echoed(self, tmp_path: Path) -> None:
        """The content of a secret file never appears in errors."""
        secret = tmp_path / "db-url"
        secret.write_text(DB_URL, encoding="utf-8")
        data = config()
        data["sources"][0].pop("url")
        data["sources"][0].update(url_file=str(secret), timeout="5x")
        text = _error_text(data)
        assert "sources -> 0 -> timeout" in text
        assert DB_PASSWORD not in text

    def test_secret_in_environment_not_echoed(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A secret from the environment is not echoed by errors elsewhere."""
        monkeypatch.setenv("BACKLOG_MONITOR_STORE__URL", DB_URL)
        data = config()
        data["http"]["listen"] = "nowhere"
        assert DB_PASSWORD not in _error_text(data)

    def test_settings_repr_hides_secrets(self) -> None:
        """Loaded settings do not show secrets in their repr."""
        data = config()
        data["sources"][0]["url"] = DB_URL
        data["receivers"][0]["secret"] = WEBHOOK_SECRET
        text = repr(load(data))
        assert DB_PASSWORD not in text
        assert WEBHOOK_SECRET not in text


def _error_text(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        load(data)
    return str(info.value) + repr(info.value.problems)
