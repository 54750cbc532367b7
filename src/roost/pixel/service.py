"""The tracking pixel's embed code (seed 001: Pixels; CONVENTIONS §7).

The snippet keeps the seed's `_bsq` command queue, so site code that already pushes
`track` commands onto it keeps working, and loads the pixel script from this server.
The account is named by its workspace UUID: the snippet is public, the integer id is not.
"""

from __future__ import annotations

import json
import uuid

_SNIPPET = """<script>
  var _bsq = _bsq || [];
  _bsq.push(["init", {account}]);
  _bsq.push(["track", "PageView"]);

  (function(w, d, s, id){{
    var js, fjs = d.getElementsByTagName(s)[0];
    if (d.getElementById(id)) {{ return; }}
    js = d.createElement(s); js.id = id;
    js.src = {script_url};
    fjs.parentNode.insertBefore(js, fjs);
  }}(window, document, "script", "roost-pixel-js"));
</script>"""


def _js_string(value: str) -> str:
    # A JSON string is a JavaScript string; "</" is escaped so that no value can end the <script> early.
    return json.dumps(value).replace("</", "<\\/")


def code(*, workspace_id: uuid.UUID, base_url: str) -> str:
    """The <script> a site embeds on every page to record page views for this account."""
    return _SNIPPET.format(account=_js_string(str(workspace_id)), script_url=_js_string(f"{base_url}/pixel/script"))
