"""The Docker SDK for Python (pip `docker`) against a Berth daemon.

Run by tests/docker_py.rs with DOCKER_HOST pointing at a throw-away daemon that has a
`busybox` image. Exits non-zero (with the failed assertion) on any mismatch.
"""

import docker


def main() -> None:
    client = docker.from_env(version="1.47")
    assert client.ping()

    # Attached run: the output comes back as bytes, the container is removed.
    out = client.containers.run("busybox", ["echo", "hello from docker-py"], remove=True)
    assert out == b"hello from docker-py\n", out

    # A failing command raises ContainerError with its exit status.
    try:
        client.containers.run("busybox", ["sh", "-c", "echo bad >&2; exit 3"], remove=True)
        raise AssertionError("ContainerError not raised")
    except docker.errors.ContainerError as e:
        assert e.exit_status == 3, e.exit_status

    # Detached container: logs, exec_run, stop, wait, remove.
    c = client.containers.run(
        "busybox",
        ["sh", "-c", "trap 'exit 0' TERM; echo ready; while true; do sleep 0.1; done"],
        detach=True,
        name="pyweb",
        labels={"sdk": "python"},
    )
    c.reload()
    assert c.status == "running", c.status
    assert c.name == "pyweb"
    for _ in range(100):
        if c.logs() == b"ready\n":
            break
        import time

        time.sleep(0.05)
    assert c.logs() == b"ready\n", c.logs()
    code, output = c.exec_run(["cat", "/etc/hostname"])
    assert code == 0 and output.decode().strip() == c.id[:12], (code, output)
    code, output = c.exec_run(["sh", "-c", "echo out; echo err >&2; exit 5"], demux=True)
    assert code == 5, code
    assert output == (b"out\n", b"err\n"), output
    assert [x.name for x in client.containers.list(filters={"label": "sdk=python"})] == ["pyweb"]
    c.stop(timeout=5)
    result = c.wait()
    assert result["StatusCode"] == 0, result
    c.remove()
    assert client.containers.list(all=True) == []

    # Volumes keep data across containers.
    client.containers.run(
        "busybox", ["sh", "-c", "echo kept > /data/f"], volumes={"pyvol": {"bind": "/data"}}, remove=True
    )
    out = client.containers.run("busybox", ["cat", "/data/f"], volumes=["pyvol:/data:ro"], remove=True)
    assert out == b"kept\n", out
    client.volumes.get("pyvol").remove()
    print("docker-py OK")


if __name__ == "__main__":
    main()
