"""Static files: hashed, compressed names once `collectstatic` has run, plain names before.

`make run` collects first; `manage.py serve` or `runserver` on a tree where nobody ran it would
otherwise answer 500 on every page ("Missing staticfiles manifest entry"). With the plain name the
page still renders and WhiteNoise serves the file from the apps' static folders (WHITENOISE_USE_FINDERS).
"""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    manifest_strict = False

    def stored_name(self, name: str) -> str:
        try:
            return super().stored_name(name)
        except ValueError:
            # Not collected yet: the file is only in an app's static folder, under its own name.
            return name
