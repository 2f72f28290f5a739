"""An uploaded weights file, spooled to disk and handed to the weights service (the API and the page form)."""

from django.core.files.uploadedfile import UploadedFile

from catalog import services
from catalog.models import WeightsFile
from hub.uploads import spooled_upload


def attach_uploaded_weights(*, model, upload: UploadedFile, convert_pickle: bool) -> WeightsFile:
    """Spool the upload to disk and hand it to the weights service; both the API and the page form use this.

    Raises UploadTooLarge or core.weights.WeightsError (refusals), leaving nothing behind.
    """
    with spooled_upload(upload) as path:
        return services.weights_attach(
            model=model, path=path, original_name=upload.name, convert_pickle=convert_pickle
        )
