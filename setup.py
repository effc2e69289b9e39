"""The build of optledger. Everything is declared in pyproject.toml; this file adds one step
to `build_py`: compiling the hosted pages' message catalogs (.po → .mo), which are build
products and not kept in the repository. (An editable install, as scripts/install makes,
reads the catalogs from the source tree, where scripts/install compiles them.)"""

from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from setuptools import setup
from setuptools.command.build_py import build_py

CATALOGS = Path("optledger", "api", "pages", "locales")


class BuildPyWithCatalogs(build_py):
    def run(self) -> None:
        super().run()
        source = Path(__file__).resolve().parent / "src" / CATALOGS
        target = Path(self.build_lib) / CATALOGS
        for po_path in sorted(source.glob("*/LC_MESSAGES/messages.po")):
            mo_path = target / po_path.relative_to(source).with_suffix(".mo")
            mo_path.parent.mkdir(parents=True, exist_ok=True)
            with po_path.open("rb") as po_file:
                catalog = read_po(po_file, locale=po_path.parent.parent.name)
            with mo_path.open("wb") as mo_file:
                write_mo(mo_file, catalog, use_fuzzy=False)


setup(cmdclass={"build_py": BuildPyWithCatalogs})
