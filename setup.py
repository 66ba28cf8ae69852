"""Build hook: a wheel (or `pip install .`) carries the repository's zoo/ inside the package.

The pretrained entries and `recipes.toml` live in the top-level `zoo/` folder of
the repository. An editable install reads them there; a built wheel gets a copy
as `kerasll/bundled_zoo/`, so `kerasll zoo list` and `kerasll zoo recipes` work
from any folder after a plain `pip install`.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ZOO = Path(__file__).parent / "zoo"


class BuildWithZoo(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False) or not ZOO.is_dir():
            return
        target = Path(self.build_lib) / "kerasll" / "bundled_zoo"
        shutil.rmtree(target, ignore_errors=True)
        # Finished entries only: no training checkpoints, locks or temporary files.
        shutil.copytree(ZOO, target, ignore=shutil.ignore_patterns("checkpoint", ".lock*", "*.tmp*", "logs"))


setup(cmdclass={"build_py": BuildWithZoo})
