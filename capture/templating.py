"""The template language of message texts sales ops write: variables, filters, simple tags.

Sequence steps, email templates and the acknowledgements of forms and chat widgets are edited
in the admin and rendered into what prospects receive (and into the admin's preview). It lives
in capture, the app every other one builds on, so forms (here), followup and chat share it.
The project's template engine would let such a text `{% load %}` any installed tag library,
`{% include %}` a project template, or `{% debug %}` the context and `sys.modules` into an
email. This engine offers only the default filters and
the default tags that work on the given context alone; the others are refused when the text
is compiled — so when it is saved (followup.models.template_errors) and, for a text stored
before this check, when it is rendered (a TemplateSyntaxError, never its output).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from django.template import (
    Context,
    Engine,
    Library,
    Template,
    TemplateSyntaxError,
    defaultfilters,
    loader_tags,
)
from django.template import defaulttags as default_tags

# The default tags that only arrange the context they are given.
ALLOWED_TAGS = frozenset({
    "autoescape", "comment", "cycle", "filter", "firstof", "for", "if", "ifchanged", "lorem",
    "now", "regroup", "resetcycle", "spaceless", "templatetag", "verbatim", "widthratio",
    "with",
})
# Named so the error says "not allowed" rather than "unknown": debug dumps the context and
# sys.modules; load, include, extends (and block, meaningless without it) and ssi read
# libraries and files; url, querystring and csrf_token need the web request, which a message
# has not.
REFUSED_TAGS = frozenset({
    *(set(default_tags.register.tags) - ALLOWED_TAGS), *loader_tags.register.tags, "ssi",
})

register = Library()
register.filters.update(defaultfilters.register.filters)
register.tags.update({name: default_tags.register.tags[name] for name in ALLOWED_TAGS})


def _refuse(name: str):
    def refuse(parser, token):
        raise TemplateSyntaxError(
            f"Line {token.lineno}: {{% {name} %}} is not allowed here. A message template may "
            "use the listed variables, filters such as {{ first_name|default:'there' }}, and "
            "tags such as {% if %} and {% for %}.")

    return refuse


for _name in REFUSED_TAGS:
    register.tags[_name] = _refuse(_name)


class _MessageEngine(Engine):
    # Only this module's library: no loader tags, and no {% load %} of installed libraries.
    default_builtins = [__name__]


@functools.cache
def _engine() -> Engine:
    # Built on first use: building it imports this module's `register` by its dotted name.
    return _MessageEngine(loaders=[], libraries={})


def compile_message(text: str) -> Template:
    """The compiled text; TemplateSyntaxError for a syntax error or a refused tag."""
    return _engine().from_string(text)


_UNKNOWN = "\x00%s\x00"


@functools.cache
def _checking_engine() -> Engine:
    # The same tags and filters; a variable the context lacks prints as a marker, not "".
    return _MessageEngine(loaders=[], libraries={}, string_if_invalid=_UNKNOWN)


def unknown_variables(text: str, names: Iterable[str]) -> list[str]:
    """The variables `text` prints that are none of `names` (a typo such as {{ firstname }}
    prints nothing at all); what {% for %} or {% with %} defines is known. The text must
    compile (compile_message)."""
    try:
        shown = _checking_engine().from_string(text).render(Context(dict.fromkeys(names, "x")))
    except Exception:  # a tag failing on the sample values: nothing to say about variables
        return []
    return list(dict.fromkeys(re.findall("\x00(.*?)\x00", shown)))


def template_problem(text: str, names: Iterable[str]) -> str:
    """What sales ops must fix in a message text with these variables, or ""."""
    try:
        compile_message(text)
    except TemplateSyntaxError as exc:
        return f"This template has an error: {exc}"
    # Django prints an unclosed "{{ first_name" as it stands: the prospect would read it.
    for opening, closing in (("{{", "}}"), ("{%", "%}")):
        if re.search(re.escape(opening) + r"(?![^{}]*" + re.escape(closing) + ")", text):
            return f"A “{opening}” is not closed with “{closing}”: it would be sent as typed."
    if unknown := unknown_variables(text, names):
        said = ", ".join(f"{{{{ {v} }}}}" for v in unknown)
        listed = ", ".join(f"{{{{ {name} }}}}" for name in names)
        return (f"{said} {'are not variables' if len(unknown) > 1 else 'is not a variable'} of "
                f"this message (it would print nothing). Use {listed}.")
    return ""
