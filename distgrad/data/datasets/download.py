"""Fetching dataset files over HTTP(S) so that a failed or tampered download leaves nothing.

Each file is streamed into a temporary file in the destination folder, checked by the
caller's ``verify`` (digests of the content), and only then renamed into place with
os.replace; a download that breaks or fails verification is deleted.
"""
import http.client
import os
import shutil
import tempfile
import urllib.error
import urllib.request


def mirrors_from_env(variable, default):
    """The mirror list: the comma-separated URLs in ``variable`` if set, else ``default``."""
    value = os.environ.get(variable, "").strip()
    return [m.strip() for m in value.split(",") if m.strip()] if value else list(default)


def download_file(filename, mirrors, folder, verify, help_text="", timeout=60):
    """Fetch ``filename`` from the first mirror whose copy passes ``verify(path, url)``.

    Returns the final path. Raises RuntimeError listing every mirror's failure, followed
    by ``help_text`` (where to put the file by hand).
    """
    os.makedirs(folder, exist_ok=True)
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + filename
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{filename}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    shutil.copyfileobj(response, out, 1 << 20)
                out.flush()
                os.fsync(out.fileno())
            verify(tmp, url)
            final = os.path.join(folder, filename)
            os.replace(tmp, final)
            return final
        except (OSError, ValueError, RuntimeError, http.client.HTTPException) as e:
            failures.append(f"  {url}: {e}")
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    tried = "\n".join(failures) or "  (no mirrors configured)"
    raise RuntimeError(f"could not download {filename}:\n{tried}\n{help_text}".rstrip())
