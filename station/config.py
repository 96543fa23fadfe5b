"""The station's configuration: one TOML file, read once at start-up.

Where the file is: ``--config PATH``, else ``$RELEASE_STATION_CONFIG``, else
``/etc/release-station/station.toml``. A missing default file means "all defaults"; a missing
file that was asked for by name is an error. ``config/station.toml`` documents every key with
its default, and a test keeps that file and the dataclasses below in step.

Every section is a frozen dataclass. Loading checks each key's name, type and value and stops
with a :class:`~station.errors.ConfigError` that names the file, the key and what is allowed.
Settings changed on the touchscreen do not come back here; they live in the database.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from station.cloud.contract import Contract
from station.errors import ConfigError
from station.reader_kinds import KINDS, READER_KINDS, KindSettings

DEFAULT_PATH = Path("/etc/release-station/station.toml")
ENV_VAR = "RELEASE_STATION_CONFIG"

ReleaseMode = Literal["all", "pick"]
Language = Literal["en", "de"]


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ValueError(f"{name}: must be between {low:g} and {high:g}, not {value:g}")


@dataclass(frozen=True)
class StationSection:
    """Who the station is and how it behaves for users."""

    name: str = "Release station"
    state_dir: str = "/var/lib/release-station"
    hardware_id: str = ""
    release_mode: ReleaseMode = "all"
    session_timeout_s: int = 60
    language: Language = "en"

    def __post_init__(self) -> None:
        _check_range("session_timeout_s", self.session_timeout_s, 10, 900)
        if self.hardware_id and not _GUID.fullmatch(self.hardware_id):
            raise ValueError("hardware_id: must be a GUID like 1b4e28ba-2fa1-11d2-883f-0016d3cca427")


_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_url(value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"must be an https:// URL, not {value!r}")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ValueError(f"plain http is allowed only on loopback (the emulator), not for {parts.hostname}")


def _check_proxy(value: str) -> None:
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        raise ValueError(f"proxy: the port of {value!r} is not a number") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"proxy: must be an http:// or https:// URL like http://proxy.example:3128, not {value!r}"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("proxy: must be the proxy's address only (scheme, host, port), without a path")
    if parts.username or parts.password:
        # This file is not a secret (`config show` prints it); credentials never go in it.
        raise ValueError("proxy: must not hold a user name or password; the configuration is not secret")


def _check_urls(section: object, *names: str) -> None:
    """Check each named URL field of ``section``; the error names the key."""
    for name in names:
        try:
            _check_url(getattr(section, name))
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None


@dataclass(frozen=True)
class CloudSection:
    """Where ezeep (or the emulator) is and how hard to try."""

    account_url: str = "https://account.ezeep.com"
    api_url: str = "https://api2.ezeep.com"
    print_url: str = "https://printapi.ezeep.com"
    client_id: str = ""
    ca_file: str = ""
    request_timeout_s: float = 10.0
    connect_timeout_s: float = 1.5
    release_parallelism: int = 4
    job_timeout_s: int = 300
    # Against a hostile or broken answer (see station.cloud.http and station.cloud.api).
    request_deadline_s: float = 20.0
    max_answer_bytes: int = 1024 * 1024
    max_list_items: int = 5000
    max_jobs: int = 500
    list_deadline_s: float = 60.0
    # How long a request that got no answer keeps its job in doubt (station.release).
    in_doubt_s: float = 300.0
    # Each request of a health probe (station.cloud.api.EzeepClient.probing).
    probe_deadline_s: float = 1.0
    # The printer this station releases to when its token's tp_id does not name exactly one.
    printer_id: str = ""
    # An HTTP(S) proxy to ezeep; "" follows HTTPS_PROXY/HTTP_PROXY/ALL_PROXY and NO_PROXY.
    proxy: str = ""
    # The names ezeep's pages do not confirm ([cloud.contract]; station.cloud.contract).
    contract: Contract = field(default_factory=Contract)

    def __post_init__(self) -> None:
        _check_urls(self, "account_url", "api_url", "print_url")
        _check_range("request_timeout_s", self.request_timeout_s, 1, 120)
        _check_range("connect_timeout_s", self.connect_timeout_s, 0.5, 30)
        _check_range("release_parallelism", self.release_parallelism, 1, 16)
        _check_range("job_timeout_s", self.job_timeout_s, 10, 3600)
        _check_range("request_deadline_s", self.request_deadline_s, 2, 300)
        _check_range("max_answer_bytes", self.max_answer_bytes, 64 * 1024, 64 * 1024 * 1024)
        _check_range("max_list_items", self.max_list_items, 100, 100_000)
        _check_range("max_jobs", self.max_jobs, 1, 10_000)
        _check_range("list_deadline_s", self.list_deadline_s, 2, 900)
        _check_range("in_doubt_s", self.in_doubt_s, 30, 86400)
        _check_range("probe_deadline_s", self.probe_deadline_s, 0.5, 30)
        if self.in_doubt_s <= self.request_deadline_s:
            raise ValueError("in_doubt_s: must be longer than request_deadline_s (a request may land late)")
        if self.printer_id and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", self.printer_id):
            raise ValueError(
                "printer_id: must be an ezeep printer id like 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
            )
        if self.proxy:
            _check_proxy(self.proxy)


S = TypeVar("S", bound=KindSettings)
READER_CHOICES = ("auto", *READER_KINDS)
"""What ``reader.kind`` may be."""


def _not_a_choice(kind: object) -> str:
    return f"must be one of {', '.join(map(repr, READER_CHOICES))}, not {kind!r}"


@dataclass(frozen=True)
class ReaderSection:
    """Which badge reader to use, and each reader kind's own keys (``station.reader_kinds``).

    In the file all keys are plain keys of ``[reader]``; here a kind's keys are one
    :class:`~station.reader_kinds.KindSettings` value, read with :meth:`of`. ``settings`` may
    leave kinds out (they get their defaults)::

        from station.reader_kinds import WedgeSettings

        section = ReaderSection(kind="wedge", settings=(WedgeSettings(wedge_usb_id="08ff:0009"),))
        assert section.of(WedgeSettings).wedge_usb_id == "08ff:0009"
    """

    kind: str = "auto"
    repeat_s: float = 3.0
    min_uid_bytes: int = 4
    settings: tuple[KindSettings, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in READER_CHOICES:
            raise ValueError(f"kind: {_not_a_choice(self.kind)}")
        _check_range("repeat_s", self.repeat_s, 0, 60)
        _check_range("min_uid_bytes", self.min_uid_bytes, 1, 10)
        given = {type(s): s for s in self.settings}
        if unknown := set(given) - {spec.settings for spec in KINDS}:
            raise TypeError(f"settings of no reader kind: {sorted(c.__name__ for c in unknown)}")
        object.__setattr__(self, "settings", tuple(given.get(s.settings) or s.settings() for s in KINDS))

    def of(self, settings: type[S]) -> S:
        """One kind's settings: ``section.of(WedgeSettings).wedge_usb_id``."""
        return next(s for s in self.settings if isinstance(s, settings))

    def table(self) -> dict[str, Any]:
        """The keys and values as in the file."""
        common = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "settings"}
        return common | {k: v for s in self.settings for k, v in dataclasses.asdict(s).items()}

    @classmethod
    def from_table(cls, data: Mapping[str, Any], source: str, prefix: str) -> ReaderSection:
        owner = {f.name: spec.settings for spec in KINDS for f in dataclasses.fields(spec.settings)}
        _refuse_unknown(data, [*cls().table()], source, prefix)
        settings = tuple(
            _build_fields(
                spec.settings,
                {k: v for k, v in data.items() if owner.get(k) is spec.settings},
                source,
                prefix,
            )
            for spec in KINDS
        )
        common = {k: v for k, v in data.items() if k not in owner}
        # Before the type check, so that `kind = true` is answered with the choices too.
        if common.get("kind", "auto") not in READER_CHOICES:
            raise ConfigError(source, prefix + "kind", _not_a_choice(common["kind"]))
        built: ReaderSection = _build_fields(
            cls, common, source, prefix, skip=("settings",), extra={"settings": settings}
        )
        return built


@dataclass(frozen=True, init=False)
class TransformsSection:
    """Card-number transform chain per reader kind, e.g. ``reverse | hex2dec | lpad(10, "0")``.

    One key per kind in ``station.reader_kinds.KINDS``; an empty chain keeps the canonical id
    (upper-case hex of the UID). The chains are parsed by ``drivers.transforms`` when the
    station starts, and a syntax error stops start-up. Built like ``TransformsSection(nfc="reverse")``.
    """

    chains: tuple[tuple[str, str], ...]

    def __init__(self, **chains: str) -> None:
        if unknown := sorted(set(chains) - set(READER_KINDS)):
            raise ValueError(f"{unknown[0]}: not a reader kind; one of {', '.join(READER_KINDS)}")
        object.__setattr__(self, "chains", tuple((kind, chains.get(kind, "")) for kind in READER_KINDS))

    def chain(self, kind: str) -> str:
        """The chain expression of one reader kind."""
        return dict(self.chains)[kind]

    def table(self) -> dict[str, Any]:
        """The keys and values as in the file."""
        return dict(self.chains)

    @classmethod
    def from_table(cls, data: Mapping[str, Any], source: str, prefix: str) -> TransformsSection:
        _refuse_unknown(data, READER_KINDS, source, prefix)
        for kind, chain in data.items():
            _convert(str, chain, source, prefix + kind)
        return cls(**data)


@dataclass(frozen=True)
class FeedbackSection:
    """LED and buzzer wiring. Pins use gpiozero names (``GPIO17``, ``BOARD11``); empty: none."""

    led_green: str = ""
    led_red: str = ""
    led_rgb: tuple[str, ...] = ()
    led_active_high: bool = True
    buzzer: str = ""
    buzzer_active_high: bool = True
    reader_led: bool = True

    def __post_init__(self) -> None:
        if self.led_rgb and len(self.led_rgb) != 3:
            raise ValueError("led_rgb: must list three pins (red, green, blue) or none")


@dataclass(frozen=True)
class UiSection:
    """The touchscreen."""

    resolution: str = "auto"
    rotation: Literal[0, 90, 180, 270] = 0
    fullscreen: bool = True
    dim_after_s: int = 120

    def __post_init__(self) -> None:
        if self.resolution != "auto" and not re.fullmatch(
            r"[1-9][0-9]{2,4}x[1-9][0-9]{2,4}", self.resolution
        ):
            raise ValueError('resolution: must be "auto" or WIDTHxHEIGHT, like 800x480')
        _check_range("dim_after_s", self.dim_after_s, 0, 86400)


@dataclass(frozen=True)
class LogSection:
    """Logging. ``auto`` writes to the journal under systemd and readable text elsewhere."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["auto", "text", "journal"] = "auto"


@dataclass(frozen=True)
class MetricsSection:
    """Metrics for node_exporter's textfile collector; an empty directory switches them off."""

    textfile_dir: str = ""
    interval_s: int = 30

    def __post_init__(self) -> None:
        _check_range("interval_s", self.interval_s, 5, 3600)


@dataclass(frozen=True)
class EnrolmentSection:
    """Who may link a badge at the station, and how many badges one person may have."""

    self_service: bool = True
    max_badges_per_user: int = 2
    confirm_tap_s: int = 30

    def __post_init__(self) -> None:
        _check_range("max_badges_per_user", self.max_badges_per_user, 1, 20)
        _check_range("confirm_tap_s", self.confirm_tap_s, 10, 120)


def _check_ldap_url(value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("ldaps", "ldap") or not parts.hostname:
        raise ValueError(f"url: must be an ldaps:// or ldap:// URL, not {value!r}")


@dataclass(frozen=True)
class DirectoryLdapSection:
    """``[directory.ldap]``: LDAP or Active Directory (:mod:`station.directory_sources.ldap`)."""

    url: str = ""
    start_tls: bool = True
    bind_dn: str = ""
    password_file: str = ""
    base_dn: str = ""
    filter: str = "(objectClass=person)"
    badge_attribute: str = "employeeNumber"
    email_attribute: str = "mail"
    name_attribute: str = "displayName"
    ca_file: str = ""
    page_size: int = 500
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if self.url:
            _check_ldap_url(self.url)
            parts = urlsplit(self.url)
            plain = parts.scheme == "ldap" and not self.start_tls
            if plain and not _is_loopback(parts.hostname or ""):
                raise ValueError(
                    "start_tls: plain LDAP is allowed only on loopback; use ldaps:// or start_tls"
                )
        if not (self.filter.startswith("(") and self.filter.endswith(")")):
            raise ValueError("filter: must be an LDAP filter in parentheses, like (objectClass=person)")
        for name in ("badge_attribute", "email_attribute", "name_attribute"):
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{0,63}", getattr(self, name)):
                raise ValueError(f"{name}: must be an attribute name like employeeNumber")
        _check_range("page_size", self.page_size, 10, 5000)
        _check_range("timeout_s", self.timeout_s, 1, 120)


@dataclass(frozen=True)
class DirectoryUrlSection:
    """``[directory.url]``: a badge file at an HTTPS URL (:mod:`station.directory_sources.url`)."""

    url: str = ""
    ca_file: str = ""
    max_bytes: int = 16 * 1024 * 1024
    timeout_s: float = 20.0

    def __post_init__(self) -> None:
        if self.url:
            _check_urls(self, "url")
        _check_range("max_bytes", self.max_bytes, 1024, 256 * 1024 * 1024)
        _check_range("timeout_s", self.timeout_s, 1, 300)


_GRAPH_PROPERTY = re.compile(
    r"employeeId|onPremisesExtensionAttributes\.extensionAttribute(?:[1-9]|1[0-5])|extension_[0-9a-fA-F]{32}_\w{1,64}"
)


@dataclass(frozen=True)
class DirectoryGraphSection:
    """``[directory.graph]``: Entra ID through Microsoft Graph (:mod:`station.directory_sources.graph`)."""

    tenant_id: str = ""
    client_id: str = ""
    secret_file: str = ""
    certificate_file: str = ""
    key_file: str = ""
    badge_property: str = "employeeId"
    login_url: str = "https://login.microsoftonline.com"
    graph_url: str = "https://graph.microsoft.com/v1.0"
    ca_file: str = ""
    timeout_s: float = 20.0

    def __post_init__(self) -> None:
        _check_urls(self, "login_url", "graph_url")
        if not _GRAPH_PROPERTY.fullmatch(self.badge_property):
            raise ValueError(
                "badge_property: must be employeeId, onPremisesExtensionAttributes.extensionAttributeN "
                "(1..15) or extension_<appId without dashes>_<name>"
            )
        _check_range("timeout_s", self.timeout_s, 1, 120)
        if bool(self.certificate_file) != bool(self.key_file):
            raise ValueError("certificate_file and key_file: give both (the app's certificate and its key)")
        if self.secret_file and self.certificate_file:
            raise ValueError("secret_file, certificate_file: the app signs in with one of them, not both")


_CHANNEL = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")


@dataclass(frozen=True)
class UpdateSection:
    """``[update]``: where the whole-card updates come from (:mod:`station.update`); no url: none."""

    url: str = ""
    channel: str = "stable"
    ca_file: str = ""
    max_bundle_bytes: int = 1536 * 1024 * 1024
    timeout_s: float = 30.0
    data_reserve_bytes: int = 64 * 1024 * 1024

    def __post_init__(self) -> None:
        if self.url:
            _check_urls(self, "url")
        if not _CHANNEL.fullmatch(self.channel):
            raise ValueError('channel: must be 1 to 32 lower-case letters, digits, "-" or "_", like "stable"')
        _check_range("max_bundle_bytes", self.max_bundle_bytes, 1024 * 1024, 8 * 1024**3)
        _check_range("timeout_s", self.timeout_s, 5, 600)
        _check_range("data_reserve_bytes", self.data_reserve_bytes, 0, 4 * 1024**3)


DirectorySource = Literal["local", "ldap", "graph", "url"]


@dataclass(frozen=True)
class DirectorySection:
    """Where the badge directory is kept: on this station, or in a source every station syncs from."""

    source: DirectorySource = "local"
    sync_interval_s: int = 900
    write_back: bool = False
    max_removed_share: float = 0.2
    ldap: DirectoryLdapSection = field(default_factory=DirectoryLdapSection)
    graph: DirectoryGraphSection = field(default_factory=DirectoryGraphSection)
    url: DirectoryUrlSection = field(default_factory=DirectoryUrlSection)

    @property
    def writes_back(self) -> bool:
        """Enrolments and unlinks made at a station go to the source."""
        return self.write_back and self.source != "local"

    def __post_init__(self) -> None:
        _check_range("sync_interval_s", self.sync_interval_s, 30, 86400)
        _check_range("max_removed_share", self.max_removed_share, 0, 1)
        if self.source == "url" and self.write_back:
            raise ValueError("write_back: the url source is read-only; set write_back = false")
        if self.source == "ldap" and not (self.ldap.url and self.ldap.base_dn):
            raise ValueError('ldap: source = "ldap" needs [directory.ldap] url and base_dn')
        if self.source == "ldap" and self.ldap.bind_dn and not self.ldap.password_file:
            raise ValueError("ldap: a bind_dn needs a password_file (the password is never in this file)")
        graph = self.graph
        credential = graph.secret_file or graph.certificate_file
        if self.source == "graph" and not (graph.tenant_id and graph.client_id and credential):
            raise ValueError(
                'graph: source = "graph" needs [directory.graph] tenant_id, client_id, and secret_file '
                "or certificate_file and key_file"
            )
        if self.source == "url" and not self.url.url:
            raise ValueError('url: source = "url" needs [directory.url] url')


@dataclass(frozen=True)
class Config:
    """The whole configuration; ``source`` names the file it came from."""

    station: StationSection = field(default_factory=StationSection)
    cloud: CloudSection = field(default_factory=CloudSection)
    reader: ReaderSection = field(default_factory=ReaderSection)
    transforms: TransformsSection = field(default_factory=TransformsSection)
    feedback: FeedbackSection = field(default_factory=FeedbackSection)
    ui: UiSection = field(default_factory=UiSection)
    log: LogSection = field(default_factory=LogSection)
    metrics: MetricsSection = field(default_factory=MetricsSection)
    enrolment: EnrolmentSection = field(default_factory=EnrolmentSection)
    directory: DirectorySection = field(default_factory=DirectorySection)
    update: UpdateSection = field(default_factory=UpdateSection)
    source: str = field(default="(defaults)", compare=False)

    @property
    def state_dir(self) -> Path:
        return Path(self.station.state_dir)

    @property
    def database_path(self) -> Path:
        return self.state_dir / "station.db"


def config_path(explicit: str | None, environ: Mapping[str, str] | None = None) -> tuple[Path, bool]:
    """Return the file to read and whether it was asked for by name."""
    env = os.environ if environ is None else environ
    if explicit:
        return Path(explicit), True
    if env.get(ENV_VAR):
        return Path(env[ENV_VAR]), True
    return DEFAULT_PATH, False


def load_config(explicit: str | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Find, read and check the configuration file."""
    path, named = config_path(explicit, environ)
    if not path.exists():
        if named:
            raise ConfigError(str(path), "", "no such file")
        return Config()
    return load_config_file(path)


def load_config_file(path: Path) -> Config:
    """Read and check one TOML file."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(source, "", f"cannot read the file: {exc}") from exc
    return parse_config(text, source)


def parse_config(text: str, source: str = "(text)") -> Config:
    """Check TOML text against the schema; the error names ``source`` and the key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, "", f"not valid TOML: {exc}") from exc
    config: Config = build_table(Config, data, source, prefix="", skip=("source",))
    return dataclasses.replace(config, source=source)


def build_table(
    cls: type[Any], data: Mapping[str, Any], source: str, prefix: str, skip: tuple[str, ...] = ()
) -> Any:
    """Check a TOML table against the dataclass ``cls`` and build it; errors name ``source`` and the key.

    A section whose keys are not its fields (``[reader]``, ``[transforms]``) builds itself with
    its ``from_table`` class method. Public so that other TOML files (first boot's
    ``system.toml``) are checked by the same rules.
    """
    from_table = getattr(cls, "from_table", None)
    if from_table is not None:
        return from_table(data, source, prefix)
    return _build_fields(cls, data, source, prefix, skip=skip)


def section_table(section: Any) -> dict[str, Any]:
    """A section's keys and values as in the file (``release-station config show``)."""
    table = getattr(section, "table", None)
    return dict(table()) if table is not None else dataclasses.asdict(section)


def _refuse_unknown(data: Mapping[str, Any], allowed: Sequence[str], source: str, prefix: str) -> None:
    for key in data:
        if key not in allowed:
            listed = ", ".join(sorted(allowed))
            raise ConfigError(source, prefix + key, f"unknown key; this section allows: {listed}")


def _build_fields(
    cls: type[Any],
    data: Mapping[str, Any],
    source: str,
    prefix: str,
    *,
    skip: tuple[str, ...] = (),
    extra: Mapping[str, Any] | None = None,
) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in skip}
    _refuse_unknown(data, [*fields], source, prefix)
    values: dict[str, Any] = dict(extra or {})
    for name, value in data.items():
        values[name] = _convert(hints[name], value, source, prefix + name)
    try:
        return cls(**values)
    except ValueError as exc:
        message = str(exc)
        key, sep, rest = message.partition(": ")
        if sep and key in fields:
            raise ConfigError(source, prefix + key, rest) from None
        raise ConfigError(source, prefix.rstrip("."), message) from None


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    if origin is tuple:
        return f"a list of {_describe(typing.get_args(hint)[0])}s"
    if dataclasses.is_dataclass(hint):
        return "a table"
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(hint, str(hint))


def _convert(hint: Any, value: Any, source: str, key: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ConfigError(source, key, f"must be a table ([{key}]), not {type(value).__name__}")
        return build_table(typing.cast(type[Any], hint), value, source, prefix=key + ".")
    if origin is Literal:
        # Same type as well as equal: 90.0 == 90 and True == 1, but neither is an allowed value.
        if not any(type(value) is type(a) and value == a for a in typing.get_args(hint)):
            raise ConfigError(source, key, f"must be {_describe(hint)}, not {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(source, key, f"must be {_describe(hint)}")
        item = typing.get_args(hint)[0]
        return tuple(_convert(item, v, source, f"{key}[{i}]") for i, v in enumerate(value))
    if origin in (typing.Union, types.UnionType):
        raise TypeError(f"unsupported type for {key}: {hint}")  # keep the schema TOML-shaped
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, bool):
        raise ConfigError(source, key, f"must be {_describe(hint)}, not {value!r}")
    if not isinstance(value, hint):
        raise ConfigError(source, key, f"must be {_describe(hint)}, not {value!r}")
    return value
