from __future__ import annotations

import uuid

from roost.pixel import service as pixel_service


def test_no_base_url_can_break_out_of_the_script() -> None:
    code = pixel_service.code(workspace_id=uuid.uuid4(), base_url='https://x.test/"</script><script>alert(1)//')
    assert code.count("</script>") == 1
    assert code.endswith("</script>")
    assert 'js.src = "https://x.test/\\"<\\/script><script>alert(1)///pixel/script";' in code
