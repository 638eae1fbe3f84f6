"""Rebuild requirements/wheels/fast_downward_textworld-<version>-py3-none-linux_x86_64.whl (`make planner-wheel`).

TextWorld's planner, fast-downward-textworld (Fast Downward, GPL-3.0, https://www.fast-downward.org), has no wheel on
PyPI: installing its sdist compiles C++ for about five minutes on two cores, which was most of a cold `make setup`.
This script builds the locked version from its PyPI sdist with the locked build tools, strips the debug information
from ``libdownward.so`` (34 MB → 1.3 MB; TextWorld copies the library once per environment), and tags the wheel for
``linux_x86_64``, the platform it was compiled on (the sdist's own wheel says ``py3-none-any``, which is wrong).
``make setup`` finds it through ``--find-links requirements/wheels``; other platforms still build from the sdist.

    python3 requirements/wheels/build_planner_wheel.py UV
"""

from __future__ import annotations

import base64
import hashlib
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE.parent
PACKAGE = "fast-downward-textworld"
PLATFORM = "linux_x86_64"


def locked_version() -> str:
    match = re.search(rf"^{PACKAGE}==(\S+)", (REQUIREMENTS / "lock.txt").read_text(), re.MULTILINE)
    if match is None:
        sys.exit(f"error: requirements/lock.txt does not pin {PACKAGE}")
    return match.group(1)


def record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def retag(built: Path, out_dir: Path, work: Path) -> Path:
    """Copy wheel ``built`` with stripped shared libraries, a platform tag and a matching RECORD."""
    name, version = built.name.split("-")[:2]
    target = out_dir / f"{name}-{version}-py3-none-{PLATFORM}.whl"
    with zipfile.ZipFile(built) as source:
        files = {info.filename: source.read(info) for info in source.infolist() if not info.is_dir()}
    record = next(f for f in files if f.endswith(".dist-info/RECORD"))
    wheel_meta = next(f for f in files if f.endswith(".dist-info/WHEEL"))
    for path in [f for f in files if f.endswith(".so")]:
        library = work / Path(path).name
        library.write_bytes(files[path])
        subprocess.run(["strip", "--strip-debug", str(library)], check=True)
        files[path] = library.read_bytes()
    meta = files[wheel_meta].decode()
    meta = re.sub(r"^Root-Is-Purelib: .*$", "Root-Is-Purelib: false", meta, flags=re.MULTILINE)
    files[wheel_meta] = re.sub(r"^Tag: .*$", f"Tag: py3-none-{PLATFORM}", meta, flags=re.MULTILINE).encode()
    lines = [record_line(f, data) for f, data in sorted(files.items()) if f != record] + [f"{record},,"]
    files[record] = ("\n".join(lines) + "\n").encode()
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as wheel:
        for path in sorted(files, key=lambda f: (f == record, f)):  # RECORD last, as installers expect
            info = zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0))  # reproducible archive
            info.external_attr = (0o755 if path.endswith(".so") else 0o644) << 16
            wheel.writestr(info, files[path], zipfile.ZIP_DEFLATED)
    return target


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__.strip().splitlines()[-1].strip())
    uv, version = sys.argv[1], locked_version()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        download = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", PACKAGE]
        subprocess.run([*download, f"{PACKAGE}=={version}", "-d", str(work / "sdist")], check=True)
        sdist = next((work / "sdist").iterdir())
        constraints = REQUIREMENTS / "build-constraints.txt"
        subprocess.run(
            [uv, "build", "-q", "--wheel", "--build-constraints", str(constraints), "-o", str(work / "built"), sdist],
            check=True,
        )
        for old in HERE.glob("*.whl"):
            old.unlink()
        print(retag(next((work / "built").glob("*.whl")), HERE, work))


if __name__ == "__main__":
    main()
