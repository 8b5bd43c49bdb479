"""galstar.logs.rule_log: a script's failure (with traceback) and its summary reach the
rule's log file."""

from __future__ import annotations

import logging
import os
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from galstar.logs import describe_output, rule_log


@pytest.fixture(autouse=True)
def _restore_root_logging():
    """rule_log replaces the root handlers (as in a job's own process): put them back."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)


def _job(tmp_path, outputs=()):
    return SimpleNamespace(log=[str(tmp_path / "logs" / "rule.log")], rule="baseline",
                           wildcards=SimpleNamespace(items=lambda: [("method", "m")]),
                           output=list(outputs))


def test_failure_leaves_its_traceback_in_the_log(tmp_path):
    job = _job(tmp_path)

    def fail():
        raise RuntimeError("no training objects")

    with pytest.raises(RuntimeError, match="no training objects"), rule_log(job):
        logging.getLogger("galstar.test").info("step one done")
        fail()
    text = (tmp_path / "logs" / "rule.log").read_text()
    assert "job baseline {'method': 'm'} started" in text
    assert "step one done" in text
    assert "job baseline {'method': 'm'} failed" in text
    assert "Traceback (most recent call last)" in text
    assert "in fail" in text and "RuntimeError: no training objects" in text
    assert "done in" not in text


def test_success_logs_every_output_with_its_counts(tmp_path):
    table, tensor, csv = tmp_path / "t.parquet", tmp_path / "x.npy", tmp_path / "m.csv"
    job = _job(tmp_path, [table, tensor, csv])
    with rule_log(job) as log:
        pd.DataFrame({"a": range(7)}).to_parquet(table)
        np.save(tensor, np.zeros((7, 4, 4, 3), np.float32))
        pd.DataFrame({"a": range(3)}).to_csv(csv, index=False)
        log.info("7 predictions written")
    lines = (tmp_path / "logs" / "rule.log").read_text().splitlines()
    assert lines[1].endswith("7 predictions written")
    assert lines[2].endswith(f"output {table}: 7 rows")
    assert lines[3].endswith(f"output {tensor}: shape (7, 4, 4, 3)")
    assert lines[4].endswith(f"output {csv}: 3 rows")
    assert "job baseline {'method': 'm'} done in" in lines[5]


def test_describe_output_of_a_directory_and_a_missing_file(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.fits").write_bytes(b"x")
    assert describe_output(tmp_path / "d") == f"{tmp_path / 'd'}: 1 files"
    assert "unreadable" in describe_output(tmp_path / "missing.bin")


def test_native_stderr_filter_drops_only_the_matching_lines(capfd):
    import os
    import re

    from galstar.logs import CPU_ONLY_NOISE, native_stderr_filter

    noise = ("W0000 00:00:1.2 7145 cudart_stub.cc:31] Could not find cuda drivers on your "
             "machine, GPU will not be used.\n"
             "E0000 00:00:1.3 7145 cuda_platform.cc:52] failed call to cuInit: INTERNAL: "
             "CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)\n")
    real = "E0000 00:00:1.4 7145 op_kernel.cc:1] OOM when allocating tensor\n"
    with native_stderr_filter(CPU_ONLY_NOISE):
        os.write(2, (noise + real).encode())
        os.write(2, b"a Python traceback line\n")
    os.write(2, noise.encode())  # restored: nothing is dropped any more
    err = capfd.readouterr().err
    assert err == real + "a Python traceback line\n" + noise
    assert re.search(CPU_ONLY_NOISE, noise.splitlines()[0])


_SLEEPER = """
import sys, time
from types import SimpleNamespace
from galstar.logs import rule_log
job = SimpleNamespace(log=[sys.argv[1]], rule="train", output=[])
with rule_log(job):
    print("ready", flush=True)
    time.sleep(60)
"""


def _default_sigint():
    """A job started from a terminal gets SIGINT; one started in the background by a
    non-interactive shell inherits it ignored (and Python then never raises
    KeyboardInterrupt), so the job is given the terminal's default."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_is_one_line_and_status_130(tmp_path):
    import signal
    import subprocess
    import sys

    path = tmp_path / "train.log"
    proc = subprocess.Popen([sys.executable, "-c", _SLEEPER, str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint)
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert err == "galstar: train interrupted\n"
    text = path.read_text()
    assert "job train interrupted (SIGINT) after" in text and "Traceback" not in text


@pytest.mark.skipif(__import__("galstar.logs").logs.has_nvidia_gpu(),
                    reason="the CUDA probe messages are news on a GPU machine")
def test_tensorflow_starts_without_cuda_noise_on_a_cpu_machine():
    import os
    import subprocess
    import sys

    code = ("import os\nfrom galstar.training.backend import start_backend\nstart_backend()\n"
            "import keras\nprint(keras.distribution.list_devices())\n"
            "os.write(2, b'a real message\\n')\n")
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=300, check=True)
    assert proc.stdout.strip() == "['cpu:0']"
    assert proc.stderr == "a real message\n", proc.stderr


_POOL = """
import sys, time
from concurrent.futures import ProcessPoolExecutor
from types import SimpleNamespace
from galstar.logs import quiet_worker, rule_log
job = SimpleNamespace(log=[sys.argv[1]], rule="preprocess_shard", output=[])
with rule_log(job):
    with ProcessPoolExecutor(max_workers=3, initializer=quiet_worker) as pool:
        [f.result() for f in [pool.submit(time.sleep, 0.5) for _ in range(3)]]
        futures = [pool.submit(time.sleep, 60)]  # one busy worker, two idle ones
        time.sleep(1)
        print("ready", flush=True)
        [f.result() for f in futures]
"""


def test_ctrl_c_to_a_job_with_worker_processes_is_one_line(tmp_path):
    """A terminal's Ctrl-C reaches the job and each of its workers (one process group)."""
    import os
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", _POOL, str(tmp_path / "job.log")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=_default_sigint)
    assert proc.stdout.readline() == "ready\n"
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert err == "galstar: preprocess_shard interrupted\n"


def test_limit_threads_sizes_unset_pools_and_keeps_the_users(monkeypatch):
    from galstar.logs import THREAD_VARIABLES, limit_threads

    for name in THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MKL_NUM_THREADS", "3")
    limit_threads(None)
    assert "OMP_NUM_THREADS" not in os.environ
    limit_threads(2)
    assert os.environ["OMP_NUM_THREADS"] == os.environ["OPENBLAS_NUM_THREADS"] == "2"
    assert os.environ["MKL_NUM_THREADS"] == "3"


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one CPU: nothing to bound")
def test_a_keras_job_keeps_tensorflow_to_its_threads():
    """Keras jobs run side by side locally, one thread each: TensorFlow's pools must not
    span the machine (two would spin against each other)."""
    import subprocess
    import sys

    code = ("import os\nfrom galstar.training.backend import start_backend\n"
            "start_backend(1)\nimport tensorflow as tf\nimport keras\n"
            "keras.ops.convert_to_numpy(keras.ops.ones(3) + 1)\n"
            "print(tf.config.threading.get_intra_op_parallelism_threads(),"
            " tf.config.threading.get_inter_op_parallelism_threads())\n")
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=300, check=True)
    assert proc.stdout.split() == ["1", "1"], proc.stdout + proc.stderr
