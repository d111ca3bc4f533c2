"""Every asset's ``code_version``, derived from the source of the code it runs.

A hand-written ``code_version="1"`` is only as good as the memory of whoever edits the
asset; this module derives it instead, when the definitions load.

``source_fingerprint(function)`` reads the AST of the function (decorators and their
arguments, annotations and defaults included) and, for each global name or dotted
attribute it references, resolves it in the defining module:

- a function or class defined in ``campaign_pipeline`` counts by its source, and what *it*
  references is followed in turn (each object once). A pydantic ``Config`` or a pandera
  model is a class, so its fields and their defaults count;
- a ``campaign_pipeline`` module is resolved attribute by attribute (``schemas.RESPONSE``);
  when the attribute cannot be resolved, or the module itself is passed around, the whole
  module's source counts;
- a plain value (str, int, float, bool, None, tuple, list, dict, set, frozenset, Enum,
  date) counts as ``qualified name = repr(value)``, containers item by item;
- any other object named at the top level of a ``campaign_pipeline`` module (a NumPy
  array, a ``RetryPolicy``) counts by the source of the statement that assigns it;
- anything from another package (dagster, pandas, scikit-learn) is not followed: pinning
  those is the lock file's job.

The asset's own function is the one under the decorators: ``data_asset`` wraps it and
``@asset`` wraps that, so wrappers are unwrapped through ``__wrapped__`` or, where a
wrapper hides it, through the closure cell holding the function of the same name.

Versions are Merkle-style: an asset's ``code_version`` is the first 16 hex characters of
``sha256(own fingerprint + the code versions of its upstream assets, sorted by key)``.
So changing the default reference date changes the version of ``engineered_customers``
*and of every asset downstream of it*, and leaves ``raw_customers`` and
``cleaned_customers`` as they were. That is deliberate: a cached or fingerprinted output
then names all the code that produced it, not only its last step, and Dagster's own
staleness ("code version changed" upstream, "upstream data changed") keeps working,
since it compares each asset's version with the one recorded at its last
materialization.

The fingerprint errs on the side of changing too often (a local variable that shadows a
global name still pulls the global in) rather than too rarely. Only the source counts:
a comment or blank line changed inside a followed function changes the version too.
"""

import ast
import datetime
import enum
import functools
import hashlib
import inspect
import sys
import textwrap
import types
from collections.abc import Callable, Iterator, Sequence
from graphlib import TopologicalSorter

from dagster import AssetKey, AssetsDefinition, AssetSpec, SourceAsset

PACKAGES = ("campaign_pipeline",)
VERSION_LENGTH = 16
PLAIN_TYPES = (type(None), bool, int, float, complex, str, bytes, datetime.date, datetime.time, datetime.timedelta)


def source_fingerprint(function: Callable, packages: Sequence[str] = PACKAGES) -> str:
    """sha256 (hex) of the source ``function`` runs: its own and that of everything in
    ``packages`` it references, followed transitively (see the module docstring)."""
    walker = _Walker(tuple(packages))
    walker.add_code(original_function(function))
    return walker.digest()


def with_derived_code_versions(
    assets: Sequence[AssetsDefinition | AssetSpec | SourceAsset], packages: Sequence[str] = PACKAGES
) -> list[AssetsDefinition | AssetSpec | SourceAsset]:
    """The same assets with each ``code_version`` replaced by the derived one (whatever the
    decorator said). ``AssetsDefinition`` keeps its op, checks, config, resources, IO
    manager, retry policy and metadata; only the specs' ``code_version`` changes. An
    ``AssetSpec`` (no code of its own) gets a version from its upstream assets alone;
    source assets and anything else pass through unchanged."""
    own: dict[AssetKey, str] = {}
    upstream: dict[AssetKey, set[AssetKey]] = {}
    for item in assets:
        if isinstance(item, AssetsDefinition):
            fingerprint = _assets_def_fingerprint(item, tuple(packages))
            for spec in item.specs:
                own[spec.key] = fingerprint
                upstream[spec.key] = {dep.asset_key for dep in spec.deps}
        elif isinstance(item, AssetSpec):
            own[item.key] = ""
            upstream[item.key] = {dep.asset_key for dep in item.deps}

    versions: dict[AssetKey, str] = {}
    for key in TopologicalSorter(upstream).static_order():
        if key not in own:  # outside the list: a source asset or another code location's
            versions[key] = "external"
            continue
        text = own[key] + "".join(
            f"\n{dep.to_user_string()}={versions[dep]}" for dep in sorted(upstream[key], key=lambda k: k.path)
        )
        versions[key] = hashlib.sha256(text.encode()).hexdigest()[:VERSION_LENGTH]

    def versioned(spec: AssetSpec) -> AssetSpec:
        return spec.replace_attributes(code_version=versions[spec.key])

    derived = []
    for item in assets:
        if isinstance(item, AssetsDefinition):
            derived.append(item.map_asset_specs(versioned))
        elif isinstance(item, AssetSpec):
            derived.append(versioned(item))
        else:
            derived.append(item)
    return derived


def original_function(function: Callable) -> Callable:
    """The function under its wrappers: follows ``__wrapped__``, then, where a wrapper has
    taken the name of the function it wraps (``functools.wraps``) but hides it, the
    closure cell holding a function of that name."""
    for _ in range(20):
        function = inspect.unwrap(function)
        code = getattr(function, "__code__", None)
        if code is None or code.co_name == function.__name__:
            return function
        inner = next(
            (
                value
                for value in _closure_values(function).values()
                if getattr(getattr(value, "__code__", None), "co_name", None) == function.__name__
            ),
            None,
        )
        if inner is None:
            return function
        function = inner
    return function


def _assets_def_fingerprint(assets_def: AssetsDefinition, packages: tuple[str, ...]) -> str:
    if not assets_def.is_executable:
        return ""
    walker = _Walker(packages)
    for op_def in assets_def.node_def.iterate_op_defs():
        compute = op_def.compute_fn
        walker.add_callable(getattr(compute, "decorated_fn", compute))
    return walker.digest()


def _closure_values(function: Callable) -> dict[str, object]:
    values = {}
    for name, cell in zip(function.__code__.co_freevars, function.__closure__ or ()):
        try:
            values[name] = cell.cell_contents
        except ValueError:  # an empty cell
            pass
    return values


def _dotted_names(tree: ast.AST) -> Iterator[list[str]]:
    """Every name the tree reads, with its attribute chain: ``a.b.c`` once, not ``a`` too."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Attribute):
            chain, base = [], node
            while isinstance(base, ast.Attribute):
                chain.append(base.attr)
                base = base.value
            if isinstance(base, ast.Name):
                yield [base.id, *reversed(chain)]
                continue
            stack.append(base)
        elif isinstance(node, ast.Name):
            yield [node.id]
        else:
            stack.extend(ast.iter_child_nodes(node))


@functools.cache
def _source_and_names(code_object: Callable) -> tuple[str, tuple[tuple[str, ...], ...]]:
    first_line, text, node = _module_definitions(code_object.__module__).get(code_object.__qualname__, (None, "", None))
    code = getattr(code_object, "__code__", None)
    if first_line is not None and (code is None or code.co_firstlineno == first_line):
        return textwrap.dedent(text), _sorted_names(node)
    # A lambda, or a name defined twice: inspect finds it.
    source = textwrap.dedent(inspect.getsource(code_object))
    try:
        return source, _sorted_names(ast.parse(source))
    except SyntaxError:  # a lambda inside an expression: its line is no statement
        return source, tuple(sorted({(name,) for name in getattr(code, "co_names", ())}))


def _sorted_names(tree: ast.AST) -> tuple[tuple[str, ...], ...]:
    return tuple(sorted({tuple(dotted) for dotted in _dotted_names(tree)}))


@functools.cache
def _module_tree(module_name: str) -> tuple[list[str], ast.Module] | None:
    """A module's source lines and syntax tree, parsed once."""
    try:
        source = inspect.getsource(sys.modules[module_name])
    except (OSError, TypeError):
        return None
    return source.splitlines(keepends=True), ast.parse(source)


# Statements that may hold a def or class; expressions are not searched (lambdas are found
# by inspect instead).
_BLOCKS = (ast.stmt, ast.excepthandler, ast.match_case)


@functools.cache
def _module_definitions(module_name: str) -> dict[str, tuple[int, str, ast.AST]]:
    """Qualified name -> (first line, decorators included; its source; its node) of every
    function and class a module defines, nested ones included: ``inspect.getsource``
    tokenizes (and for a class parses) the module again for each."""
    parsed = _module_tree(module_name)
    if parsed is None:
        return {}
    lines, tree = parsed
    definitions = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                qualname = prefix + child.name
                first = min([child.lineno, *(decorator.lineno for decorator in child.decorator_list)])
                definitions[qualname] = (first, "".join(lines[first - 1 : child.end_lineno]), child)
                visit(child, qualname + (".<locals>." if not isinstance(child, ast.ClassDef) else "."))
            elif isinstance(child, _BLOCKS):
                visit(child, prefix)

    visit(tree, "")
    return definitions


@functools.cache
def _top_level_assignments(module_name: str) -> dict[str, str]:
    """Name -> source of the top-level statement assigning it, in one module."""
    lines, tree = _module_tree(module_name)
    assignments = {}
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        for target in targets:
            for name in ast.walk(target):
                if isinstance(name, ast.Name):
                    assignments[name.id] = _statement_source(lines, node)
    return assignments


def _statement_source(lines: list[str], node: ast.stmt) -> str:
    """The source of a statement, as ``ast.get_source_segment`` gives it (offsets are in
    UTF-8 bytes)."""
    first, last = node.lineno - 1, node.end_lineno - 1
    if first == last:
        return lines[first].encode()[node.col_offset : node.end_col_offset].decode()
    head = lines[first].encode()[node.col_offset :].decode()
    tail = lines[last].encode()[: node.end_col_offset].decode()
    return "".join([head, *lines[first + 1 : last], tail])


class _Walker:
    """Collects ``qualified name -> text`` for everything reachable from the code added."""

    def __init__(self, packages: tuple[str, ...]):
        self.packages = packages
        self.parts: dict[str, str] = {}

    def digest(self) -> str:
        text = "\n".join(f"# {name}\n{self.parts[name]}" for name in sorted(self.parts))
        return hashlib.sha256(text.encode()).hexdigest()

    def ours(self, module_name: str | None) -> bool:
        return bool(module_name) and any(
            module_name == package or module_name.startswith(package + ".") for package in self.packages
        )

    def add_code(self, code_object) -> None:
        """A function or class: its source, then what it references."""
        name = f"{code_object.__module__}.{code_object.__qualname__}"
        if name in self.parts:
            return
        try:
            source, names = _source_and_names(code_object)
        except (OSError, TypeError):  # built at run time, no file: its name is all there is
            self.parts[name] = "<source unavailable>"
            return
        self.parts[name] = source
        module = sys.modules[code_object.__module__]
        namespace = dict(vars(module))
        if inspect.isfunction(code_object):
            namespace.update(_closure_values(code_object))
        for dotted in names:
            self.resolve(dotted, namespace, module.__name__)

    def add_callable(self, function: Callable) -> None:
        """An asset's compute function, whatever shape it takes: a function (unwrapped), a
        ``functools.partial`` (its function and arguments) or a callable object (its class)."""
        if isinstance(function, functools.partial):
            self.add_callable(function.func)
            self.parts[f"{_name_of(function.func)}.<partial>"] = self.describe((function.args, function.keywords))
        elif inspect.isfunction(function) or inspect.ismethod(function):
            self.add_code(original_function(getattr(function, "__func__", function)))
        else:
            self.add_code(type(function))

    def add_module(self, module: types.ModuleType) -> None:
        if module.__name__ not in self.parts:
            self.parts[module.__name__] = inspect.getsource(module)

    def resolve(self, dotted: Sequence[str], namespace: dict, module_name: str) -> None:
        head, *rest = dotted
        if head not in namespace:  # a local, a parameter or a builtin
            return
        value, owner, name = namespace[head], module_name, head
        for attribute in rest:
            if not (isinstance(value, types.ModuleType) and self.ours(value.__name__)):
                break
            if not hasattr(value, attribute):
                self.add_module(value)
                return
            value, owner, name = getattr(value, attribute), value.__name__, attribute
        self.add_value(f"{owner}.{name}", value, owner)

    def add_value(self, qualified_name: str, value: object, owner: str) -> None:
        if qualified_name in self.parts:
            return
        if callable(value) and not inspect.isclass(value) and hasattr(value, "__wrapped__"):
            value = inspect.unwrap(value)  # functools.cache and friends
        if isinstance(value, types.ModuleType):
            if self.ours(value.__name__):
                self.add_module(value)
        elif inspect.isfunction(value) or inspect.isclass(value):
            if self.ours(getattr(value, "__module__", None)):
                self.add_code(original_function(value) if inspect.isfunction(value) else value)
        elif _is_plain(value):
            self.parts[qualified_name] = self.describe(value)
        elif self.ours(owner) and qualified_name.rsplit(".", 1)[-1] in _top_level_assignments(owner):
            # e.g. a NumPy array or a RetryPolicy: the statement that builds it
            statement = _top_level_assignments(owner)[qualified_name.rsplit(".", 1)[-1]]
            self.parts[qualified_name] = statement
            namespace = vars(sys.modules[owner])
            for dotted in {tuple(d) for d in _dotted_names(ast.parse(statement))}:
                self.resolve(dotted, namespace, owner)
        if self.ours(getattr(type(value), "__module__", None)):
            self.add_code(type(value))

    def describe(self, value: object) -> str:
        """A stable text for a plain value (set items sorted, so hash seeds do not matter)."""
        if isinstance(value, enum.Enum):
            if self.ours(type(value).__module__):
                self.add_code(type(value))
            return repr(value)
        if isinstance(value, PLAIN_TYPES):
            return repr(value)
        if isinstance(value, dict):
            items = ", ".join(f"{self.describe(k)}: {self.describe(v)}" for k, v in value.items())
            return f"{type(value).__qualname__}({{{items}}})"
        if isinstance(value, (set, frozenset)):
            return f"{type(value).__qualname__}({{{', '.join(sorted(self.describe(v) for v in value))}}})"
        if isinstance(value, (tuple, list)):
            return f"{type(value).__qualname__}([{', '.join(self.describe(v) for v in value)}])"
        if inspect.isfunction(value) or inspect.isclass(value):
            self.add_value(f"{value.__module__}.{value.__qualname__}", value, value.__module__)
            return f"{value.__module__}.{value.__qualname__}"
        return f"<{type(value).__module__}.{type(value).__qualname__}>"


def _name_of(function: Callable) -> str:
    return f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', type(function).__qualname__)}"


def _is_plain(value: object) -> bool:
    return isinstance(value, (*PLAIN_TYPES, enum.Enum, tuple, list, dict, set, frozenset))
