#!/usr/bin/env python3
"""bench-image.py ROOTFS.tar.gz OUT.tar NAME - a docker save archive of one
layer, the root filesystem tarball, under NAME: the image the bench's ctr run
starts (ctr image import takes this form, not a bare root filesystem)."""
import gzip
import hashlib
import io
import json
import sys
import tarfile


def main(argv):
    if len(argv) != 4:
        sys.exit(__doc__)
    src, out, name = argv[1:]
    with gzip.open(src) as f:
        layer = f.read()
    diff = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/true"]},
                         "rootfs": {"type": "layers", "diff_ids": [diff]}}).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [name], "Layers": ["layer.tar"]}]).encode()
    with tarfile.open(out, "w") as t:
        for member, data in (("layer.tar", layer), (config_name, config), ("manifest.json", manifest)):
            info = tarfile.TarInfo(member)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))


if __name__ == "__main__":
    main(sys.argv)
