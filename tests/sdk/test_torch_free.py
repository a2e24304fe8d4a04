"""The SDK must import without torch or transformers: users deploy it where neither is installed."""

import subprocess
import sys


def test_import_does_not_load_torch_or_transformers():
    code = (
        "import sys, simcse_sdk, simcse_sdk.evaluation, simcse_sdk.evaluation.__main__\n"
        "import simcse_sdk.server, simcse_sdk.server.__main__, simcse_sdk.embed, simcse_sdk.embed.__main__\n"
        "from simcse_sdk import Encoder, search, cosine_matrix\n"
        "bad = sorted(m for m in ('torch', 'transformers', 'sklearn') if m in sys.modules)\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"simcse_sdk imported {out.stdout.strip()}"


def test_encoding_a_model_does_not_load_torch(tiny_model_dir):
    code = (
        "import sys\n"
        "from simcse_sdk import Encoder\n"
        f"e = Encoder({str(tiny_model_dir)!r}, device='cpu', variant='fp32')\n"
        "assert e.encode(['hello world']).shape == (1, e.dim)\n"
        "print('torch' in sys.modules, 'transformers' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"
