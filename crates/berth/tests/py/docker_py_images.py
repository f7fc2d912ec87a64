"""docker-py against berthd: commit, save/load, get_archive/put_archive and df, as a
program that speaks the Docker API would use them. DOCKER_HOST names the daemon."""
import io
import sys
import tarfile

import docker

client = docker.from_env()

c = client.containers.run("busybox", ["sh", "-c", "echo py > /made-by-py; rm /bin/vi"],
                          name="pycommit", detach=True)
assert c.wait()["StatusCode"] == 0
img = c.commit(repository="pyimg", tag="v1", message="from py", author="py",
               changes=['CMD ["cat", "/made-by-py"]'])
assert "pyimg:v1" in img.tags, img.tags
assert len(img.attrs["RootFS"]["Layers"]) == 2, img.attrs["RootFS"]
assert img.attrs["Author"] == "py", img.attrs["Author"]
assert client.containers.run("pyimg:v1", remove=True) == b"py\n"

# get_archive: a tar of the path, and the stat of it.
bits, stat = c.get_archive("/made-by-py")
assert stat["name"] == "made-by-py" and stat["size"] == 3, stat
data = b"".join(bits)
with tarfile.open(fileobj=io.BytesIO(data)) as t:
    assert t.extractfile("made-by-py").read() == b"py\n"

# put_archive into the stopped container, then a commit sees it.
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w") as t:
    body = b"put by py\n"
    info = tarfile.TarInfo("put.txt")
    info.size = len(body)
    t.addfile(info, io.BytesIO(body))
assert c.put_archive("/", buf.getvalue())
img2 = c.commit(repository="pyimg", tag="v2")
assert client.containers.run("pyimg:v2", ["cat", "/put.txt"], remove=True) == b"put by py\n"

# save and load: the archive carries both images; after removing them, load restores them.
archive = b"".join(client.images.get("pyimg:v1").save(named=True))
client.images.remove("pyimg:v1")
loaded = client.images.load(archive)
assert [i.id for i in loaded] == [img.id], (loaded, img.id)
assert "pyimg:v1" in client.images.get(img.id).tags

df = client.df()
assert df["LayersSize"] > 0, df
assert any(i["Id"] == img.id for i in df["Images"]), df["Images"]

c.remove()
client.images.remove("pyimg:v2")
client.images.remove("pyimg:v1")
print("docker-py images ok")
sys.exit(0)
