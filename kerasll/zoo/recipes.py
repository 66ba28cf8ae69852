"""Named training recipes from the repository's `zoo/recipes.toml` (or $KERASLL_RECIPES)."""

import fnmatch
import os
from pathlib import Path

from kerasll.errors import KerasllError
from kerasll.zoo.store import REPO_ZOO

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


def recipes_path():
    return Path(os.environ.get("KERASLL_RECIPES") or REPO_ZOO / "recipes.toml")


def load_recipes():
    """{name: fields} of every recipe (fields exclude the description)."""
    path = recipes_path()
    if not path.is_file():
        raise KerasllError(f"recipe catalogue {path} not found; set KERASLL_RECIPES to a recipes.toml")
    with open(path, "rb") as f:
        return tomllib.load(f)


def list_recipes(pattern="*"):
    """[(name, description)] of the recipes matching a shell-style wildcard."""
    return [(n, r.get("description", "")) for n, r in load_recipes().items() if fnmatch.fnmatch(n, pattern)]


def get_recipe(name):
    """The training fields of recipe `name`; an unknown name lists close ones."""
    recipes = load_recipes()
    if name not in recipes:
        prefix = name.split("-")[0]
        close = [n for n in recipes if n.startswith(prefix)] or list(recipes)
        raise KerasllError(f"unknown recipe {name!r}; valid choices include: {', '.join(close[:20])} "
                           "(see `kerasll zoo recipes`)")
    fields = dict(recipes[name])
    fields.pop("description", None)
    return fields
