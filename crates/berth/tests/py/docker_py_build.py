"""docker-py against berthd: images.build from a context directory (tag, buildargs) and
from a Dockerfile file object. DOCKER_HOST names the daemon; argv[1] is the context."""
import io
import sys

import docker

client = docker.from_env()
ctx = sys.argv[1]

# path=, tag=, buildargs=: the image and the decoded JSON stream of its build.
img, logs = client.images.build(path=ctx, tag="pybuild:v1", buildargs={"WHO": "py"})
logs = list(logs)
text = "".join(chunk.get("stream", "") for chunk in logs)
assert "pybuild:v1" in img.tags, img.tags
assert "Step 4/4 : RUN echo \"hi $WHO\" > /who" in text, text
assert "Successfully built" in text, text
assert any("aux" in chunk and chunk["aux"]["ID"] == img.id for chunk in logs), logs
out = client.containers.run("pybuild:v1", ["cat", "/who", "/f.txt"], remove=True)
assert out == b"hi py\npy ctx\n", out

# A second build hits the cache and gives the same image.
img2, logs2 = client.images.build(path=ctx, tag="pybuild:v2", buildargs={"WHO": "py"})
assert img2.id == img.id, (img2.id, img.id)
assert "Using cache" in "".join(c.get("stream", "") for c in logs2)

# fileobj=: a bare Dockerfile, no context.
df = io.BytesIO(b"FROM busybox\nRUN echo fileobj > /fo\nCMD [\"cat\", \"/fo\"]\n")
img3, _ = client.images.build(fileobj=df, tag="pybuild:fo")
assert "pybuild:fo" in img3.tags, img3.tags
assert client.containers.run("pybuild:fo", remove=True) == b"fileobj\n"

# A failing RUN raises BuildError with dockerd's message.
try:
    client.images.build(fileobj=io.BytesIO(b"FROM busybox\nRUN exit 4\n"))
    raise AssertionError("build should fail")
except docker.errors.BuildError as e:
    assert "returned a non-zero code: 4" in str(e), str(e)

print("docker-py build ok")
