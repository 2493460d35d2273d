"""`kind: keyset_rest` - a REST API that pages by the last record's key.

Many internal APIs answer `GET /items?limit=100&after_id=<id of the last item you got>` with a bare list
and no paging metadata: the next cursor comes from the records themselves, a style the product's
built-in paginators (body cursor, next URL, Link header, page number, offset) do not cover.
"""

from __future__ import annotations

from collections.abc import Iterator

from etl.plugins import PluginSettings, SourceContext, SourcePlugin
from etl.sources.records import get_path


class KeysetSettings(PluginSettings):
    connection: str  # Airflow Connection id (AIRFLOW_CONN_<ID>): host and token
    path: str
    records_path: str = ""  # where the list sits in the body; "" = the body is the list
    key_field: str = "id"  # the record field whose last value asks for the next page
    after_param: str = "after_id"
    limit_param: str = "limit"
    page_size: int = 100
    since_param: str | None = None  # query parameter carrying the watermark, if the API filters by it
    cursor_field: str | None = None  # record field kept as the watermark (the product tracks its maximum)
    auth: dict = {"type": "bearer"}


class KeysetRestSource(SourcePlugin):
    """REST API paged by the last record's key (?after_id=...)."""

    Settings = KeysetSettings

    def read(self, settings: KeysetSettings, ctx: SourceContext) -> Iterator[list[dict]]:
        client = ctx.http(settings.connection, auth=settings.auth)
        url = ctx.connection(settings.connection).base_url.rstrip("/") + "/" + settings.path.lstrip("/")
        params: dict = {settings.limit_param: settings.page_size}
        if settings.since_param and ctx.watermark:
            params[settings.since_param] = ctx.watermark
        while True:
            records = get_path(client.get_json(url, params).body, settings.records_path) or []
            yield records
            if len(records) < settings.page_size:
                return
            params = {**params, settings.after_param: records[-1][settings.key_field]}
