"""`syncd admin add-hook | list-hooks | remove-hook`: webhook hooks on a data directory. The
last line of add-hook is the webhook path `/hooks/<id>`; secrets are never echoed (they may
also come from the environment, to keep them out of shell history)."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import click

from syncd.errors import ApiError
from syncd.server.ingest import hooks
from syncd.server.quota import parse_size
from syncd.server.store_options import open_store, store_options
from syncd.units import human_bytes


def _caps(values: tuple[str, ...]) -> dict[str, int]:
    caps = dict(hooks.DEFAULT_CAPS_BYTES)
    for item in values:
        kind, _, size = item.partition("=")
        if kind not in caps or not size:
            raise click.BadParameter(f"{item!r}: use KIND=SIZE, KIND one of {', '.join(caps)}")
        try:
            caps[kind] = parse_size(size)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from exc
    return caps


@click.command("add-hook")
@click.argument("user")
@store_options
@click.option(
    "--type", "hook_type", type=click.Choice(["waha", "cloudapi", "evolution"]), required=True
)
@click.option("--gateway-url", help="WAHA / Evolution API base URL (media is asked from it).")
@click.option(
    "--api-key", envvar="SYNCD_HOOK_API_KEY", help="WAHA X-Api-Key / Evolution API apikey."
)
@click.option(
    "--jwt-key",
    envvar="SYNCD_HOOK_JWT_KEY",
    help="Evolution API: also require Authorization: Bearer <HS256 JWT> signed with this key.",
)
@click.option("--hmac-key", envvar="SYNCD_HOOK_HMAC_KEY", help="WAHA webhook HMAC key.")
@click.option("--session", help="WAHA: the session files are sent from (default: default).")
@click.option("--phone-number-id", help="Cloud API: the business number files are sent from.")
@click.option("--instance", help="Evolution API: the instance files are sent from.")
@click.option("--insecure-no-hmac", is_flag=True, help="Accept unsigned WAHA webhooks.")
@click.option("--graph-url", help="Cloud API Graph base, e.g. https://graph.facebook.com/v21.0")
@click.option("--access-token", envvar="SYNCD_HOOK_ACCESS_TOKEN", help="Cloud API token.")
@click.option("--app-secret", envvar="SYNCD_HOOK_APP_SECRET", help="Cloud API app secret.")
@click.option("--verify-token", envvar="SYNCD_HOOK_VERIFY_TOKEN", help="Handshake token.")
@click.option(
    "--media-host",
    "media_hosts",
    multiple=True,
    help="Allowed media host (repeatable): Cloud API (default lookaside.fbsbx.com), Evolution "
    "API mediaUrl hosts (default none: media comes inline or from the gateway).",
)
@click.option("--cap", "caps", multiple=True, help="Size cap per kind, e.g. image=32MiB.")
def add_hook(
    user: str,
    data_dir: Path,
    hook_type: str,
    gateway_url: str | None,
    api_key: str | None,
    jwt_key: str | None,
    hmac_key: str | None,
    session: str | None,
    phone_number_id: str | None,
    instance: str | None,
    insecure_no_hmac: bool,
    graph_url: str | None,
    access_token: str | None,
    app_secret: str | None,
    verify_token: str | None,
    media_hosts: tuple[str, ...],
    caps: tuple[str, ...],
) -> None:
    """Create a webhook for USER; prints its path `/hooks/<id>` on the last line.

    \b
    Examples:
      syncd admin add-hook alice --data ./data --type waha \\
          --gateway-url http://waha:3000 --api-key KEY --hmac-key SECRET
      syncd admin add-hook alice --data ./data --type cloudapi \\
          --graph-url https://graph.facebook.com/v21.0 --access-token T \\
          --app-secret S --verify-token V
      syncd admin add-hook alice --data ./data --type evolution \\
          --gateway-url http://evolution:8080 --api-key KEY [--jwt-key SECRET]
    """
    config = hooks.HookConfig(
        gateway_url=gateway_url,
        api_key=api_key,
        jwt_key=jwt_key,
        hmac_key=hmac_key,
        session=session,
        phone_number_id=phone_number_id,
        instance=instance,
        insecure_no_hmac=insecure_no_hmac,
        graph_url=graph_url,
        access_token=access_token,
        app_secret=app_secret,
        verify_token=verify_token,
        caps_bytes=_caps(caps),
    )
    if media_hosts:
        config.media_hosts = list(media_hosts)
    db = open_store(data_dir)
    try:
        hook = hooks.add_hook(db, user, cast(hooks.HookType, hook_type), config)
    except ApiError as exc:
        raise click.ClickException(exc.message) from exc
    finally:
        db.close()
    target = hook.config.graph_url if hook.type == "cloudapi" else hook.config.gateway_url
    click.echo(f"created {hook.type} hook for {user} ({target}); point the webhook at:")
    if insecure_no_hmac and not hmac_key:
        click.echo("warning: unsigned webhooks accepted; anyone with the path can post", err=True)
    click.echo(f"/hooks/{hook.id}")


@click.command("list-hooks")
@store_options
def list_hooks_cmd(data_dir: Path) -> None:
    """List webhook hooks (never their secrets).

    \b
    Example:
      syncd admin list-hooks --data ./data
    """
    db = open_store(data_dir)
    try:
        items = hooks.list_hooks(db)
    finally:
        db.close()
    for hook, user_name in items:
        info = hook.public()
        target = info.get("gateway_url") or info.get("graph_url")
        extra = "signed" if info.get("signed", True) else "UNSIGNED"
        caps = ",".join(f"{k}={human_bytes(v)}" for k, v in hook.config.caps_bytes.items())
        click.echo(f"{info['path']}  {user_name}  {hook.type}  {target}  {extra}  caps {caps}")


@click.command("remove-hook")
@click.argument("hook")
@store_options
def remove_hook_cmd(hook: str, data_dir: Path) -> None:
    """Remove a hook (give its id or its /hooks/<id> path); its pending fetches are dropped.

    \b
    Example:
      syncd admin remove-hook /hooks/hk_0123abcd --data ./data
    """
    hook_id = hook.rstrip("/").rsplit("/", 1)[-1]
    db = open_store(data_dir)
    try:
        hooks.remove_hook(db, hook_id)
    except ApiError as exc:
        raise click.ClickException(exc.message) from exc
    finally:
        db.close()
    click.echo(f"removed hook {hooks.short(hook_id)}")


def register(group: click.Group) -> None:
    for command in (add_hook, list_hooks_cmd, remove_hook_cmd):
        group.add_command(command)
