"""docker-py against berthd: exec (exit code, output, demux, env, workdir, user) and stats.

Run by tests/clients.rs with DOCKER_HOST pointing at a test daemon; any failed assert
exits non-zero with the traceback.
"""
import os
import sys

import docker

client = docker.DockerClient(base_url=os.environ["DOCKER_HOST"], version="auto")
assert client.ping()
c = client.containers.run(
    "busybox", ["sleep", "1000"], detach=True, name="pyclient", mem_limit="64m"
)
try:
    c.reload()
    assert c.status == "running", c.status

    r = c.exec_run(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert r.exit_code == 3, r
    assert sorted(r.output.split()) == [b"err", b"out"], r.output

    r = c.exec_run(["sh", "-c", "echo out; echo err >&2"], demux=True)
    assert r.exit_code == 0, r
    assert r.output == (b"out\n", b"err\n"), r.output

    r = c.exec_run(["sh", "-c", "echo $FOO $(pwd) $(id -u)"], environment={"FOO": "bar"},
                   workdir="/tmp", user="1234")
    assert r.output == b"bar /tmp 1234\n", r.output

    # The low-level API: exec_create / exec_start / exec_inspect.
    e = client.api.exec_create(c.id, ["sh", "-c", "exit 5"])
    client.api.exec_start(e["Id"])
    info = client.api.exec_inspect(e["Id"])
    assert info["ExitCode"] == 5 and not info["Running"], info

    s = c.stats(stream=False)
    assert s["id"] == c.id, s.get("id")
    assert s["name"] == "/pyclient", s.get("name")
    assert s["memory_stats"]["limit"] == 64 * 1024 * 1024, s["memory_stats"]
    assert s["memory_stats"]["usage"] > 0, s["memory_stats"]
    assert s["pids_stats"]["current"] >= 1, s["pids_stats"]
    assert s["cpu_stats"]["cpu_usage"]["total_usage"] > 0, s["cpu_stats"]
    assert s["cpu_stats"]["online_cpus"] >= 1, s["cpu_stats"]

    stream = c.stats(stream=True, decode=True)
    first, second = next(stream), next(stream)
    assert second["precpu_stats"]["cpu_usage"]["total_usage"] == \
        first["cpu_stats"]["cpu_usage"]["total_usage"], (first, second)
    stream.close()
finally:
    c.remove(force=True)
print("docker-py ok")
sys.exit(0)
