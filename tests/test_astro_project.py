"""The Astro project: the runtime image's Airflow against the pinned requirements, the Docker build
context that .dockerignore leaves, and the demo source the image generates.

No Docker engine is needed: the Dockerfile, the requirements files and .dockerignore are read as
text, and the build context is computed with Docker's own matching rules.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from tributary.config import load_config

ROOT = Path(__file__).resolve().parents[1]
RUNTIME_IMAGE = "astrocrpublic.azurecr.io/runtime"
AIRFLOW_HOME = "/usr/local/airflow"

RUNTIME_AIRFLOW: dict[str, str] = {
    "3.3-1": "3.3.0",
    "3.3-2": "3.3.0",
    "3.3-5": "3.3.1",
    "3.3-7": "3.3.1",
    "3.3-8": "3.3.2",
}
"""Astro Runtime tag (Airflow 3 format ``<airflow major.minor>-<runtime build>``, without the
``-python-X.Y`` suffix) → the Apache Airflow it carries. The build number is not Airflow's patch
number: 3.3-2 carries 3.3.0. The authority is the runtime catalog the Astro CLI reads,
https://updates.astronomer.io/astronomer-runtime, ``runtimeVersionsV3[<tag>].metadata.airflowVersion``
(astro-cli ``airflow_versions/http_client.go``); the image installs Astronomer's build of that
release (``apache-airflow==3.3.2+astro.N`` from pip.astronomer.io). Add a tag here after reading
its entry there; a tag that is not here fails the test instead of being guessed."""

RUNTIME_LOCKED = {"apache-airflow", "apache-airflow-core", "apache-airflow-task-sdk"}
"""What the runtime keeps at its own versions when it installs requirements.txt (the Astro CLI's
standalone mode, which mirrors the image, installs requirements.txt with exactly these locked)."""

RUNTIME_PROVIDERS: dict[str, dict[str, str]] = {
    "3.3": {
        "apache-airflow-providers-celery": "3.21.0",
        "apache-airflow-providers-common-compat": "1.15.0",
        "apache-airflow-providers-common-io": "1.8.0",
        "apache-airflow-providers-common-sql": "2.0.1",
        "apache-airflow-providers-elasticsearch": "6.7.0",
        "apache-airflow-providers-openlineage": "2.18.1",
        "apache-airflow-providers-smtp": "3.0.1",
        "apache-airflow-providers-standard": "1.15.0",
        "astronomer-providers-logging": "1.6.7",
    },
}
"""The providers an Astro Runtime series preinstalls, at the versions of its first builds (Astro's
runtime provider reference, 3.3-1 and 3.3-2). A pin of one of them in requirements.txt upgrades the
runtime's copy, which it allows; below these versions it would downgrade what the runtime's own
providers (openlineage, celery) were built against."""


@dataclass(frozen=True)
class RuntimeTag:
    image: str
    tag: str  # e.g. 3.3-8
    python: str | None  # e.g. 3.12, from a -python-3.12 suffix

    @property
    def series(self) -> str:
        return self.tag.split("-")[0]


_FROM = re.compile(r"^FROM\s+(?P<image>[^\s:@]+):(?P<tag>\S+?)(?:\s+AS\s+\S+)?$", re.IGNORECASE)
_TAG = re.compile(r"^(?P<tag>\d+\.\d+-\d+)(?:-python-(?P<python>\d+\.\d+))?$")


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (KEYWORD, arguments), continuation lines joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        whole = (pending + stripped).strip()
        pending = ""
        keyword, _, args = whole.partition(" ")
        instructions.append((keyword.upper(), " ".join(args.split())))
    return instructions


def runtime_of(dockerfile: str) -> RuntimeTag:
    """The Astro Runtime image and tag of the Dockerfile's single FROM. Raises ``ValueError``."""
    froms = [f"FROM {args}" for keyword, args in dockerfile_instructions(dockerfile) if keyword == "FROM"]
    if len(froms) != 1:
        raise ValueError(f"expected one FROM, found {len(froms)}: {froms}")
    match = _FROM.match(froms[0])
    if not match:
        raise ValueError(f"{froms[0]!r} names no image:tag")
    tag = _TAG.match(match["tag"])
    if not tag:
        raise ValueError(f"{match['tag']!r} is not a pinned Airflow 3 runtime tag (<X.Y>-<N>[-python-<A.B>])")
    return RuntimeTag(image=match["image"], tag=tag["tag"], python=tag["python"])


def pins(text: str) -> dict[str, Version]:
    """``name==version`` of a requirements or lock file, by canonical name (extras dropped)."""
    out: dict[str, Version] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        exact = [spec for spec in requirement.specifier if spec.operator == "=="]
        if exact:
            out[canonicalize_name(requirement.name)] = Version(exact[0].version)
    return out


def names(text: str) -> set[str]:
    """Every package a requirements file names, pinned or not."""
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return {canonicalize_name(Requirement(line).name) for line in lines if line}


def runtime_conflicts(runtime: RuntimeTag, requirements: str, dev: str, lock: str) -> list[str]:
    """What in the requirements files disagrees with the runtime image's Airflow; empty if nothing."""
    airflow = RUNTIME_AIRFLOW.get(runtime.tag)
    if airflow is None:
        return [
            f"runtime {runtime.tag} is not in RUNTIME_AIRFLOW: look up the Airflow it carries "
            "(https://updates.astronomer.io/astronomer-runtime) and add it"
        ]
    problems = []
    image_installs, local_only, locked = pins(requirements), pins(dev), pins(lock)
    for name in sorted(RUNTIME_LOCKED & names(requirements)):
        problems.append(f"requirements.txt names {name}: runtime {runtime.tag} keeps its own, leave it out")
    for source, versions in (("requirements-dev.txt", local_only), ("requirements.lock", locked)):
        if versions.get("apache-airflow") != Version(airflow):
            problems.append(
                f"{source} pins apache-airflow {versions.get('apache-airflow')}, "
                f"runtime {runtime.tag} carries {airflow}"
            )
    if locked.get("apache-airflow-core") != Version(airflow):
        problems.append(
            f"requirements.lock pins apache-airflow-core {locked.get('apache-airflow-core')}, "
            f"runtime {runtime.tag} carries {airflow}"
        )
    for name, shipped in RUNTIME_PROVIDERS.get(runtime.series, {}).items():
        for source, versions in (("requirements.txt", image_installs), ("requirements.lock", locked)):
            if name in versions and versions[name] < Version(shipped):
                problems.append(
                    f"{source} pins {name} {versions[name]}, below the {shipped} "
                    f"runtime {runtime.series} ships"
                )
    for source, versions in (("requirements.txt", image_installs), ("requirements-dev.txt", local_only)):
        for name, version in sorted(versions.items()):
            if locked.get(name) != version:
                problems.append(f"{source} pins {name} {version}, requirements.lock {locked.get(name)}")
    return problems


def _read(name: str) -> str:
    return (ROOT / name).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def runtime() -> RuntimeTag:
    return runtime_of(_read("Dockerfile"))


# --- the runtime image and the requirements --------------------------------------------------


def test_dockerfile_builds_from_a_known_astro_runtime(runtime: RuntimeTag) -> None:
    assert runtime.image == RUNTIME_IMAGE
    assert runtime.tag in RUNTIME_AIRFLOW, f"add runtime {runtime.tag} to RUNTIME_AIRFLOW"


def test_runtime_python_is_one_the_package_supports(runtime: RuntimeTag) -> None:
    requires = tomllib.loads(_read("pyproject.toml"))["project"]["requires-python"]
    assert runtime.python is not None, "pin the runtime's Python (-python-X.Y): the wheels depend on it"
    assert Version(runtime.python) in SpecifierSet(requires)


def test_requirements_agree_with_the_runtime_airflow(runtime: RuntimeTag) -> None:
    conflicts = runtime_conflicts(
        runtime, _read("requirements.txt"), _read("requirements-dev.txt"), _read("requirements.lock")
    )
    assert conflicts == []


@pytest.mark.parametrize(
    ("name", "old", "new", "expected"),
    [
        (
            "Dockerfile",
            ":3.3-8",
            ":3.3-2",
            "requirements-dev.txt pins apache-airflow 3.3.2, runtime 3.3-2 carries 3.3.0",
        ),
        ("Dockerfile", ":3.3-8", ":3.4-1", "runtime 3.4-1 is not in RUNTIME_AIRFLOW"),
        (
            "requirements.txt",
            "apache-airflow-providers-common-sql==",
            "apache-airflow==3.3.2\napache-airflow-providers-common-sql==",
            "requirements.txt names apache-airflow: runtime 3.3-8 keeps its own",
        ),
        (
            "requirements.txt",
            "providers-common-sql==2.4.0",
            "providers-common-sql==1.30.0",
            "requirements.txt pins apache-airflow-providers-common-sql 1.30.0, below the 2.0.1",
        ),
        ("requirements.txt", "\nduckdb==1.5.5", "\nduckdb==1.4.0", "requirements.txt pins duckdb 1.4.0"),
    ],
    ids=["older-runtime", "unknown-runtime", "airflow-in-image-file", "provider-downgrade", "lock-drift"],
)
def test_the_check_fails_when_the_runtime_and_the_pins_part(
    name: str, old: str, new: str, expected: str
) -> None:
    files = {name: _read(name) for name in ("Dockerfile", "requirements.txt", "requirements-dev.txt")}
    assert old in files[name], f"update this case to {name}"
    files[name] = files[name].replace(old, new, 1)
    conflicts = runtime_conflicts(
        runtime_of(files["Dockerfile"]),
        files["requirements.txt"],
        files["requirements-dev.txt"],
        _read("requirements.lock"),
    )
    assert any(expected in conflict for conflict in conflicts), conflicts


def test_runtime_tag_parsing() -> None:
    plain = RuntimeTag(RUNTIME_IMAGE, "3.3-8", None)
    assert runtime_of("FROM astrocrpublic.azurecr.io/runtime:3.3-8\n") == plain
    with pytest.raises(ValueError, match="not a pinned Airflow 3 runtime tag"):
        runtime_of("FROM astrocrpublic.azurecr.io/runtime:3.3\n")
    with pytest.raises(ValueError, match="expected one FROM, found 2"):
        runtime_of("FROM a:1 AS build\nFROM astrocrpublic.azurecr.io/runtime:3.3-8\n")


def test_astro_project_config_names_the_project() -> None:
    # what `astro dev init` writes; the CLI names the containers and the image after it
    name = yaml.safe_load(_read(".astro/config.yaml"))["project"]["name"]
    assert re.fullmatch(r"(?i)[a-z0-9]([a-z0-9_-]*[a-z0-9])", name)
    assert name == "tributary"


# --- the Docker build context ----------------------------------------------------------------


def _docker_pattern(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as Docker (moby/patternmatcher) compiles it: anchored at the context
    root, ``*`` and ``?`` within one path element, ``**`` across elements (``**/`` also matches
    nothing)."""
    out, i = "", 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out, i = out + "(.*/)?", i + 3
            continue
        if pattern.startswith("**", i):
            out, i = out + ".*", i + 2
            continue
        if char == "*":
            out += "[^/]*"
        elif char == "?":
            out += "[^/]"
        elif char == "[":
            end = pattern.index("]", i)
            out += pattern[i : end + 1].replace("[!", "[^")
            i = end
        else:
            out += re.escape(char)
        i += 1
    return re.compile(out + r"\Z")


def parse_dockerignore(text: str) -> list[tuple[re.Pattern[str], bool]]:
    """(pattern, is_exception) per rule, as Docker reads the file: comments and blanks skipped,
    each pattern cleaned (``./``, leading and trailing ``/``)."""
    rules = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        pattern = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
        rules.append((_docker_pattern(pattern), exception))
    return rules


def excluded(path: str, rules: list[tuple[re.Pattern[str], bool]]) -> bool:
    """Whether Docker leaves ``path`` (relative, ``/``-separated) out of the context: the last rule
    that matches the path or one of its parent folders decides."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    verdict = False
    for pattern, exception in rules:
        if any(pattern.match(prefix) for prefix in prefixes):
            verdict = not exception
    return verdict


def build_context(root: Path, rules: list[tuple[re.Pattern[str], bool]]) -> set[str]:
    """The files Docker sends as the build context of ``root``: a walk that does not follow
    symlinks and skips excluded folders (there are no exception rules to look inside them for)."""
    assert not any(exception for _, exception in rules), "exception rules: walk excluded folders too"
    context = set()
    for folder, dirs, files in os.walk(root):
        rel = Path(folder).relative_to(root).as_posix()
        prefix = "" if rel == "." else rel + "/"
        for name in list(dirs):
            if excluded(prefix + name, rules):
                dirs.remove(name)
            elif os.path.islink(os.path.join(folder, name)):
                dirs.remove(name)
                context.add(prefix + name)
        context.update(prefix + name for name in files if not excluded(prefix + name, rules))
    return context


LOCAL_STATE = [
    ".venv/bin/python",
    ".git/HEAD",
    "data/pos.sqlite",
    "data/warehouse.duckdb",
    "data/lake/pos/sales/month=2025-01/part-0000-0.parquet",
    ".airflow/airflow.db",
    ".airflow/logs/dag_id=replicate_pos/attempt=1.log",
    "dbt/target/manifest.json",
    "dbt/logs/dbt.log",
    "dbt/dbt_packages/dbt_utils/dbt_project.yml",
    "bench/work/pgdata/PG_VERSION",
    "plugins/tributary/__pycache__/config.cpython-311.pyc",
    ".pytest_cache/v/cache/lastfailed",
    ".astro/standalone/constraints-3.3-8-python-3.12.txt",
    ".env",
    "airflow_settings.yaml",
]
"""What a developer's checkout holds besides the tracked files, none of which the image wants."""


@pytest.fixture(scope="module")
def dockerignore() -> list[tuple[re.Pattern[str], bool]]:
    return parse_dockerignore(_read(".dockerignore"))


@pytest.mark.parametrize("path", LOCAL_STATE)
def test_local_state_stays_out_of_the_build_context(path: str, dockerignore) -> None:
    assert excluded(path, dockerignore)


def test_build_context_of_this_checkout(dockerignore) -> None:
    context = build_context(ROOT, dockerignore)
    for path in ("requirements.txt", "packages.txt", "Dockerfile", ".astro/config.yaml"):
        assert path in context
    for folder, example in [
        ("dags/", "dags/tributary_replication.py"),
        ("plugins/", "plugins/tributary/__init__.py"),
        ("scripts/", "scripts/demo_source/__main__.py"),
        ("include/", "include/pipelines/pos.yaml"),
        ("include/", "include/sql/sqlite/count.sql"),
        ("dbt/", "dbt/dbt_project.yml"),
    ]:
        assert (ROOT / example).exists(), example
        assert example in context, f"{example} ({folder}) is missing from the build context"
    assert any(path.startswith("dbt/models/") and path.endswith(".sql") for path in context)
    leaked = sorted(
        path
        for path in context
        if path.split("/")[0] in {".venv", ".git", "data", ".airflow", "airflow_settings.yaml"}
        or path.startswith(("dbt/target/", "dbt/logs/", "bench/work/"))
        or "/__pycache__/" in f"/{path}"
    )
    assert leaked == []


@pytest.mark.parametrize(
    ("rules", "path", "out"),
    [
        ("data", "data/lake/x.parquet", True),
        ("data", "include/data/x.csv", False),  # anchored at the root, unlike .gitignore
        ("/data/", "data/x", True),
        ("**/__pycache__", "__pycache__/a.pyc", True),
        ("**/__pycache__", "plugins/tributary/__pycache__/a.pyc", True),
        ("*.pyc", "plugins/a.pyc", False),  # * stays within one path element
        ("dbt/target", "dbt/target/manifest.json", True),
        ("dbt/target", "dbt/targets.yml", False),
        ("data\n!data/keep.txt", "data/keep.txt", False),  # the last matching rule wins
    ],
)
def test_dockerignore_matching_follows_docker(rules: str, path: str, out: bool) -> None:
    assert excluded(path, parse_dockerignore(rules)) is out


# --- the demo in the container ---------------------------------------------------------------


def test_image_generates_the_demo_source_the_settings_connect_to() -> None:
    settings = yaml.safe_load(_read("airflow_settings.yaml"))["airflow"]
    connections = {conn["conn_id"]: conn for conn in settings["connections"]}
    source_db = connections["pos_db"]["conn_host"]

    instructions = dockerfile_instructions(_read("Dockerfile"))
    generate = [
        (n, args) for n, (keyword, args) in enumerate(instructions) if "-m scripts.demo_source" in args
    ]
    assert len(generate) == 1, "the Dockerfile generates the demo source once"
    at, command = generate[0]
    argv = command.split()
    # the generator is a build tool outside plugins/, importable from the project root it is copied to
    assert f"PYTHONPATH={AIRFLOW_HOME}" in argv
    assert (ROOT / "scripts" / "demo_source" / "__main__.py").exists()
    assert not (ROOT / "plugins" / "tributary" / "demo").exists()
    assert argv[argv.index("--out") + 1] == source_db

    # the source covers the demo config's windows, as `make demo` generates it
    config = load_config(ROOT / "include" / "pipelines" / "pos.yaml")
    assert argv[argv.index("--start") + 1] == config.start_date.isoformat()
    assert config.end_date is not None
    start, end = config.start_date, config.end_date
    months = (end.year - start.year) * 12 + end.month - start.month
    assert int(argv[argv.index("--months") + 1]) == months

    # generated as astro, into a data/ that astro owns: the tasks write the lake and the warehouse there
    users = [args for keyword, args in instructions[:at] if keyword == "USER"]
    assert users and users[-1] == "astro"
    data = f"{AIRFLOW_HOME}/data"
    creates_data = [args for keyword, args in instructions[:at] if keyword == "RUN" and data in args.split()]
    assert any("-o astro" in args for args in creates_data), f"create {data}, owned by astro, before it"
    assert source_db.startswith(data + "/")
    assert connections["tributary_warehouse"]["conn_host"].startswith("data/")
    lake = yaml.safe_load((ROOT / "include" / "pipelines" / "pos.yaml").read_text(encoding="utf-8"))["lake"]
    assert lake["url"].startswith("data/")  # relative to the project root, /usr/local/airflow in the image


def test_image_installs_the_tributary_command() -> None:
    """The operator commands are a console command in the image too: the project is installed
    (editable, no dependencies: requirements.txt brought them) after it is copied in."""
    instructions = dockerfile_instructions(_read("Dockerfile"))
    installs = [args for keyword, args in instructions if keyword == "RUN" and "pip install" in args]
    assert installs == [f"pip install --no-cache-dir --no-deps -e {AIRFLOW_HOME}"]
    project = tomllib.loads(_read("pyproject.toml"))
    assert project["project"]["scripts"]["tributary"] == "tributary.cli:main"
    assert project["tool"]["setuptools"]["packages"]["find"]["where"] == ["plugins"]
