"""fastevlog says it runs only on Linux, at import, before the compiled core loads."""

import json
from typing import Optional

import pytest
from support import run_python

# Prints what importing fastevlog did under the platform name ``platform`` (defined
# before this code; None: the real one) and whether the compiled core got loaded on the way.
IMPORT_AS = """
import json, sys
if platform is not None:
    sys.platform = platform
try:
    import fastevlog
    error = None
except ImportError as exc:
    error = str(exc)
print(json.dumps({"error": error, "core_loaded": "fastevlog._core" in sys.modules}))
"""


def _import_as(platform: Optional[str], cwd) -> dict:
    result = run_python(f"platform = {platform!r}\n{IMPORT_AS}", cwd, capture_output=True, text=True,
                        timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


class TestPlatform:
    @pytest.mark.parametrize("platform", ["darwin", "win32", "freebsd14", "cygwin"])
    def test_another_os_is_an_import_error_that_says_linux(self, platform, tmp_path):
        """Any other OS: an ImportError naming Linux and the platform, raised before the core loads."""
        outcome = _import_as(platform, tmp_path)
        assert outcome["error"] is not None, f"fastevlog imported on {platform}"
        assert "runs only on Linux" in outcome["error"]
        assert repr(platform) in outcome["error"]
        assert not outcome["core_loaded"], "the compiled core was loaded before the platform check"

    def test_linux_imports(self, tmp_path):
        """On Linux, where the suite runs, the import works and loads the core."""
        assert _import_as(None, tmp_path) == {"error": None, "core_loaded": True}
