"""Generate the `protogen` Python package from the .proto files in protos/.

The generated modules register their descriptors in a private descriptor pool
(`protogen._pool.POOL`) instead of protobuf's default one. Our messages have the
same full names as TensorFlow's and TF Serving's (`tensorflow.TensorProto`,
`tensorflow.serving.PredictRequest`) so that they are the same on the wire;
in the default pool they would clash with TensorFlow's own copies in every
process that imports both (the model server, the training job, the tests).

Usage: python scripts/gen_protos.py [--out DIR]
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
PACKAGE = "protogen"

POOL_MODULE = '''"""The descriptor pool of the generated messages (see scripts/gen_protos.py)."""

from google.protobuf import any_pb2, descriptor_pool, struct_pb2, wrappers_pb2

POOL = descriptor_pool.DescriptorPool()
for _module in (any_pb2, struct_pb2, wrappers_pb2):
    POOL.AddSerializedFile(_module.DESCRIPTOR.serialized_pb)
'''


def generate(out: Path) -> list[Path]:
    """Compile every .proto under protos/ into out/protogen; return the modules written."""
    import grpc_tools
    from grpc_tools import protoc

    sources = sorted(p.relative_to(PROTOS).as_posix() for p in PROTOS.rglob("*.proto"))
    if not sources:
        raise SystemExit(f"no .proto files under {PROTOS}")
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    with tempfile.TemporaryDirectory() as tmp:
        args = [
            "grpc_tools.protoc",
            f"-I{PACKAGE}={PROTOS}",
            f"-I{well_known}",
            f"--python_out={tmp}",
            f"--pyi_out={tmp}",
            f"--grpc_python_out={tmp}",
            *[f"{PACKAGE}/{s}" for s in sources],
        ]
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed")
        generated = Path(tmp) / PACKAGE
        for path in generated.rglob("*_pb2.py"):
            text = path.read_text()
            text = text.replace(
                "from google.protobuf import descriptor_pool as _descriptor_pool\n",
                f"from {PACKAGE}._pool import POOL as _POOL\n",
            )
            text, count = re.subn(r"_descriptor_pool\.Default\(\)", "_POOL", text)
            if count != 1:
                raise SystemExit(f"unexpected generated code in {path.name}")
            path.write_text(text)
        for path in generated.rglob("*_pb2_grpc.py"):
            if "Stub" not in path.read_text():
                path.unlink()  # protos without a service get an empty module
        for folder in [generated, *[d for d in generated.rglob("*") if d.is_dir()]]:
            (folder / "__init__.py").touch()
        (generated / "_pool.py").write_text(POOL_MODULE)
        target = out / PACKAGE
        staging = out / f".{PACKAGE}.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(generated, staging)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    return sorted(target.rglob("*.py"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT, help="folder that receives protogen/")
    args = parser.parse_args(argv)
    modules = generate(args.out)
    print(f"generated {len(modules)} modules into {args.out / PACKAGE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
