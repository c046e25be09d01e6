"""What the workstation's background traffic talks to: the sites a user's Firefox opens, the services it polls.

Each host name belongs to a provider (a CDN, a cloud, a company's own network), which fixes what a capture sees
of it: the address ranges its A and AAAA records come from (IPv6 where the provider publishes it), the CNAME
chain its name resolves through, the OS its servers run (the TTL and TCP options of their packets), how far away
it is, whether it takes Firefox's post-quantum key share, and how big its certificate chain is. Addresses are
drawn per case from a small pool per provider, so several names share an edge server as they do on the Internet.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from dflab.evidence.network.profiles import LINUX, WINDOWS, OsProfile

DISTRIBUTION = "debian-12"  # the workstation's system: its logs, its installed tree, its kernel (dflab.scenario)


@dataclass(frozen=True)
class Provider:
    """Who runs a set of servers, and how their packets look from the capture point."""

    ipv4: tuple[str, ...]  # prefixes its addresses are drawn from
    ipv6: str | None  # prefix of its AAAA records; None: it publishes none
    os: OsProfile
    rtt_us: tuple[int, int]
    pq: bool  # takes X25519MLKEM768
    certificate: tuple[int, int]  # bytes of its certificate chain (compressed where it compresses)
    ttl: int  # the TTL its authoritative servers give A/AAAA records
    zone: str  # the zone of its CDN names (the SOA of a NODATA answer)
    idle_s: tuple[int, int]  # how long its servers keep an idle connection open
    hops: tuple[int, int]  # routers beyond the office's provider: few to a CDN's edge, more to a far cloud


PROVIDERS = {
    "cloudflare": Provider(("104.16.0.0/13", "172.64.0.0/13"), "2606:4700::/32", LINUX, (3_000, 14_000), True,
                           (2_300, 3_100), 300, "cloudflare.net", (60, 400), (1, 4)),
    "fastly": Provider(("151.101.0.0/16", "146.75.0.0/16"), "2a04:4e42::/32", LINUX, (4_000, 18_000), False,
                       (2_800, 4_200), 30, "fastly.net", (60, 120), (1, 4)),
    "akamai": Provider(("23.32.0.0/11", "2.16.0.0/13", "104.64.0.0/10"), "2a02:26f0::/29", LINUX, (4_000, 20_000),
                       False, (3_000, 4_600), 20, "akamaiedge.net", (90, 240), (1, 4)),
    "google": Provider(("142.250.0.0/15", "172.217.0.0/16", "216.58.192.0/19"), "2a00:1450::/32", LINUX,
                       (5_000, 22_000), True, (2_400, 3_400), 300, "google.com", (180, 240), (1, 4)),
    "cloudfront": Provider(("18.64.0.0/14", "13.32.0.0/15", "108.156.0.0/14"), "2600:9000::/28", LINUX,
                           (5_000, 25_000), False, (3_200, 4_800), 60, "cloudfront.net", (60, 120), (2, 5)),
    "aws": Provider(("52.208.0.0/13", "34.240.0.0/13"), None, LINUX, (18_000, 40_000), False, (3_200, 5_000), 60,
                    "amazonaws.com", (60, 350), (3, 7)),
    "gcp": Provider(("34.96.0.0/12", "35.186.0.0/16"), None, LINUX, (8_000, 26_000), True, (2_500, 3_600), 60,
                    "mozgcp.net", (300, 600), (3, 7)),
    "microsoft": Provider(("13.107.0.0/16", "52.96.0.0/14", "40.96.0.0/13"), "2603:1026::/32", WINDOWS,
                          (8_000, 30_000), False, (4_000, 6_500), 60, "office365.com", (120, 240), (2, 6)),
    "canonical": Provider(("185.125.188.0/22", "91.189.88.0/21"), "2620:2d:4000::/44", LINUX, (15_000, 45_000),
                          False, (2_800, 4_000), 60, "ubuntu.com", (60, 75), (4, 8)),
    "wikimedia": Provider(("185.15.58.0/24", "185.15.59.0/24"), "2a02:ec80:600::/48", LINUX, (10_000, 28_000),
                          False, (2_600, 3_600), 600, "wikimedia.org", (60, 120), (3, 7)),
    # The NTP pool's volunteers (N.debian.pool.ntp.org): hosting providers' and universities' machines, no CDN.
    "ntppool": Provider(("5.9.0.0/16", "78.46.0.0/15", "51.15.0.0/16", "144.76.0.0/16", "212.227.0.0/16"),
                        "2a01:4f8::/32", LINUX, (8_000, 40_000), False, (2_000, 3_000), 130, "pool.ntp.org",
                        (60, 120), (3, 8)),
    "github": Provider(("140.82.112.0/20",), None, LINUX, (20_000, 95_000), False, (2_600, 3_600), 60,
                       "github.com", (60, 120), (5, 10)),
}


@dataclass(frozen=True)
class Host:
    """One name the workstation resolves and connects to."""

    name: str
    provider: str
    chain: tuple[str, ...] = ()  # CNAME targets its lookup follows


def _h(name: str, provider: str, *chain: str) -> Host:
    return Host(name, provider, chain)


@dataclass(frozen=True)
class Site:
    """A page a user opens: its own host, and the hosts its page pulls resources from."""

    main: Host
    assets: tuple[Host, ...]
    page_kib: tuple[int, int]  # what a returning visitor loads (the rest comes from Firefox's cache)


SITES = (
    Site(_h("www.bbc.com", "fastly", "www.bbc.com.pri.bbc.com", "bbc.map.fastly.net"),
         (_h("static.files.bbci.co.uk", "akamai", "static.files.bbci.co.uk.edgekey.net", "e3891.dscg.akamaiedge.net"),
          _h("ichef.bbci.co.uk", "fastly", "ichef.bbci.co.uk.pri.bbc.co.uk", "bbc.map.fastly.net"),
          _h("emp.bbc.com", "fastly"), _h("ws.bbc-reporting-api.com", "aws"),
          _h("nav.files.bbci.co.uk", "fastly", "bbc.map.fastly.net")),
         (100, 500)),
    Site(_h("www.theguardian.com", "fastly", "guardian.map.fastly.net"),
         (_h("assets.guim.co.uk", "fastly", "guardian.map.fastly.net"),
          _h("i.guim.co.uk", "fastly", "guardian.map.fastly.net"),
          _h("api.nextgen.guardianapps.co.uk", "fastly", "guardian.map.fastly.net"),
          _h("contributions.guardianapis.com", "cloudfront", "d3e5bsv2nfcbvi.cloudfront.net"),
          _h("sourcepoint.theguardian.com", "cloudfront", "d1l6p2sc9645hc.cloudfront.net")),
         (83, 400)),
    Site(_h("en.wikipedia.org", "wikimedia", "dyna.wikimedia.org"),
         (_h("upload.wikimedia.org", "wikimedia"), _h("login.wikimedia.org", "wikimedia", "dyna.wikimedia.org"),
          _h("intake-analytics.wikimedia.org", "wikimedia", "dyna.wikimedia.org")),
         (40, 233)),
    Site(_h("github.com", "github"),
         (_h("github.githubassets.com", "fastly"), _h("avatars.githubusercontent.com", "fastly"),
          _h("api.github.com", "github"), _h("collector.github.com", "github", "glb-db52c2cf8be544.github.com")),
         (66, 300)),
    Site(_h("stackoverflow.com", "cloudflare"),
         (_h("cdn.sstatic.net", "fastly", "sstatic.map.fastly.net"), _h("i.sstatic.net", "cloudflare"),
          _h("secure.quantserve.com", "akamai", "e2713.b.akamaiedge.net")),
         (50, 266)),
    Site(_h("outlook.office.com", "microsoft", "outlook.ha.office365.com", "outlook.ms-acdc.office.com"),
         (_h("res.cdn.office.net", "akamai", "res.cdn.office.net.edgekey.net", "e40491.dscd.akamaiedge.net"),
          _h("login.microsoftonline.com", "microsoft", "login.mso.msidentity.com", "ak.privatelink.msidentity.com"),
          _h("substrate.office.com", "microsoft", "substrate-sdf.office.com", "outlook.ms-acdc.office.com"),
          _h("outlook.office365.com", "microsoft", "outlook.ha.office365.com", "outlook.ms-acdc.office.com")),
         (133, 666)),
    Site(_h("www.google.com", "google"),
         (_h("www.gstatic.com", "google"), _h("apis.google.com", "google", "plus.l.google.com"),
          _h("ogads-pa.googleapis.com", "google"),
          _h("lh3.googleusercontent.com", "google", "googlehosted.l.googleusercontent.com")),
         (26, 166)),
    Site(_h("www.reuters.com", "akamai", "www.reuters.com.edgekey.net", "e10987.dscb.akamaiedge.net"),
         (_h("static.reuters.com", "akamai", "static.reuters.com.edgekey.net", "e10987.dscb.akamaiedge.net"),
          _h("graphics.reuters.com", "akamai", "graphics.reuters.com.edgekey.net", "e10987.dscb.akamaiedge.net"),
          _h("www.reuters.tv", "fastly", "reuters.map.fastly.net")),
         (100, 533)),
    Site(_h("www.ecb.europa.eu", "akamai", "www.ecb.europa.eu.edgekey.net", "e11256.b.akamaiedge.net"),
         (_h("sdw.ecb.europa.eu", "akamai", "sdw.ecb.europa.eu.edgekey.net", "e11256.b.akamaiedge.net"),),
         (33, 200)),
    Site(_h("www.linkedin.com", "akamai", "www-linkedin-com.l-0005.l-msedge.net", "l-0005.l-msedge.net"),
         (_h("static.licdn.com", "akamai", "static-exp1.licdn.com", "2-01-2c3e-005a.cdx.cedexis.net"),
          _h("media.licdn.com", "akamai", "media-exp1.licdn.com", "e9659.dspb.akamaiedge.net"),
          _h("px.ads.linkedin.com", "microsoft", "l-0005.l-msedge.net")),
         (100, 466)),
    Site(_h("www.xe.com", "cloudflare"),
         (_h("static.xe.com", "cloudflare"), _h("api.xe.com", "cloudflare"), _h("images.xe.com", "cloudflare")),
         (50, 233)),
    Site(_h("www.ft.com", "fastly", "ft.map.fastly.net"),
         (_h("images.ft.com", "fastly", "ft.map.fastly.net"),
          _h("consent-notice.ft.com", "fastly"), _h("spoor-api.ft.com", "aws")),
         (66, 333)),
    Site(_h("docs.google.com", "google"),
         (_h("ssl.gstatic.com", "google"), _h("docs.googleusercontent.com", "google"),
          _h("drive.google.com", "google"), _h("clients6.google.com", "google")),
         (100, 466)),
)

# The long tail: sites a finance clerk opens once in a while (a search result, a link in a mail). Each has its
# www host and a few of its own asset hosts on its CDN.
_TAIL = (
    ("bloomberg.com", "akamai"), ("cnbc.com", "akamai"), ("marketwatch.com", "fastly"), ("investing.com", "cloudflare"),
    ("morningstar.com", "akamai"), ("wsj.com", "fastly"), ("economist.com", "cloudflare"), ("nytimes.com", "fastly"),
    ("spiegel.de", "fastly"), ("lemonde.fr", "fastly"), ("imf.org", "akamai"), ("worldbank.org", "akamai"),
    ("oecd.org", "cloudflare"), ("bis.org", "akamai"), ("eurostat.ec.europa.eu", "akamai"), ("gov.uk", "fastly"),
    ("sec.gov", "akamai"), ("xero.com", "cloudfront"), ("sap.com", "akamai"), ("salesforce.com", "cloudflare"),
    ("atlassian.com", "cloudfront"), ("zoom.us", "cloudflare"), ("slack.com", "cloudfront"), ("adobe.com", "akamai"),
    ("microsoft.com", "akamai"), ("apple.com", "akamai"), ("amazon.de", "cloudfront"), ("booking.com", "cloudfront"),
    ("tripadvisor.com", "fastly"), ("weather.com", "akamai"), ("accuweather.com", "akamai"), ("dw.com", "akamai"),
    ("euronews.com", "cloudflare"), ("politico.eu", "cloudflare"), ("techcrunch.com", "cloudflare"),
    ("theverge.com", "fastly"), ("arstechnica.com", "cloudflare"), ("python.org", "fastly"),
    ("mozilla.org", "cloudfront"), ("ubuntu.com", "canonical"), ("medium.com", "cloudflare"),
    ("reddit.com", "fastly"), ("canva.com", "cloudflare"), ("trello.com", "cloudfront"), ("notion.so", "cloudflare"),
    ("zendesk.com", "cloudflare"), ("hubspot.com", "cloudflare"), ("paypal.com", "akamai"), ("wise.com", "cloudflare"),
    ("revolut.com", "cloudflare"), ("ing.com", "akamai"), ("hsbc.com", "akamai"), ("ubs.com", "akamai"),
    ("kpmg.com", "akamai"), ("pwc.com", "akamai"), ("deloitte.com", "akamai"), ("ey.com", "akamai"),
    ("ft.com", "fastly"), ("fxstreet.com", "cloudflare"), ("ecb.europa.eu", "akamai"), ("bundesbank.de", "akamai"),
    ("destatis.de", "akamai"), ("insee.fr", "cloudflare"), ("statista.com", "cloudflare"), ("zillow.com", "fastly"),
    ("linkedin.com", "akamai"), ("glassdoor.com", "cloudflare"), ("indeed.com", "cloudflare"),
)
_ASSET_PREFIXES = ("static", "cdn", "assets", "img", "media", "api", "js")


def _tail_site(domain: str, provider: str, n: int) -> Site:
    host = domain if domain.count(".") > 1 else f"www.{domain}"
    prefixes = _ASSET_PREFIXES[n % 3:n % 3 + 2 + n % 4]
    return Site(_h(host, provider), tuple(_h(f"{p}.{domain}", provider) for p in prefixes), (30, 300))


LONG_TAIL = tuple(_tail_site(d, p, n) for n, (d, p) in enumerate(_TAIL) if f"www.{d}" not in
                  {s.main.name for s in SITES})

# Third parties pages embed (analytics, fonts, tag managers, consent, ad and script CDNs): each page visit pulls
# a few of these besides its own hosts.
THIRD_PARTIES = (
    _h("www.googletagmanager.com", "google"),
    _h("www.google-analytics.com", "google", "www-google-analytics.l.google.com"),
    _h("region1.google-analytics.com", "google"),
    _h("stats.g.doubleclick.net", "google", "stats.l.doubleclick.net"),
    _h("fonts.googleapis.com", "google", "googleapis.l.google.com"),
    _h("fonts.gstatic.com", "google", "gstaticadssl.l.google.com"),
    _h("ajax.googleapis.com", "google", "googleapis.l.google.com"),
    _h("cdn.jsdelivr.net", "fastly", "jsdelivr.map.fastly.net"),
    _h("cdnjs.cloudflare.com", "cloudflare"),
    _h("unpkg.com", "cloudflare"),
    _h("cdn.cookielaw.org", "cloudflare"),
    _h("geolocation.onetrust.com", "cloudflare"),
    _h("static.hotjar.com", "cloudfront", "d3n8sj5ry2y9ow.cloudfront.net"),
    _h("script.hotjar.com", "cloudfront", "d1c9ryq8pmzh9d.cloudfront.net"),
    _h("js-agent.newrelic.com", "fastly", "js-agent.newrelic.com.cdn.cloudflare.net"),
    _h("bam.nr-data.net", "aws", "bam.cell.nr-data.net"),
    _h("sb.scorecardresearch.com", "akamai", "sb.scorecardresearch.com.edgekey.net", "e1566.dsca.akamaiedge.net"),
    _h("c.amazon-adsystem.com", "cloudfront", "d3nbz5rz3ppcnt.cloudfront.net"),
    _h("connect.facebook.net", "akamai", "scontent.xx.fbcdn.net"),
    _h("platform.twitter.com", "fastly", "cs472.wac.edgecastcdn.net"),
    _h("widget.trustpilot.com", "cloudfront", "d2b4b9yvh1tj8z.cloudfront.net"),
    _h("use.typekit.net", "akamai", "use.typekit.net.edgekey.net", "e9145.dscg.akamaiedge.net"),
    _h("p.typekit.net", "akamai", "p.typekit.net-v2.edgekey.net", "e9145.dscg.akamaiedge.net"),
    _h("cdn.segment.com", "cloudfront", "d2dq2ahtl5zl1z.cloudfront.net"),
    _h("api.segment.io", "aws", "api-segment-io-1853513237.us-west-2.elb.amazonaws.com"),
    _h("browser.sentry-cdn.com", "fastly", "sentry-cdn.map.fastly.net"),
    _h("o450616.ingest.sentry.io", "gcp"),
    _h("cdn.optimizely.com", "akamai", "cdn.optimizely.com.edgekey.net", "e1232.dscb.akamaiedge.net"),
    _h("tags.tiqcdn.com", "akamai", "tags.tiqcdn.com.edgekey.net", "e7283.dscx.akamaiedge.net"),
    _h("securepubads.g.doubleclick.net", "google", "partnerad.l.doubleclick.net"),
    _h("pagead2.googlesyndication.com", "google", "pagead46.l.doubleclick.net"),
    _h("tpc.googlesyndication.com", "google", "pagead46.l.doubleclick.net"),
    _h("cdn.ampproject.org", "google"),
    _h("s.yimg.com", "cloudflare", "edge.gycpi.b.yahoodns.net"),
    _h("consent.cookiebot.com", "cloudflare", "consent.cookiebot.com.cdn.cloudflare.net"),
    _h("static.cloudflareinsights.com", "cloudflare"),
)

# Where a user's uploads go: a document to the company's Microsoft 365, a file to Google Drive.
UPLOADS = (
    _h("netorg-my.sharepoint.com", "microsoft", "1234-ipv4e.clump.dprodmgd104.aa-rt.sharepoint.com",
       "dual-spo-0005.spo-msedge.net"),
    _h("attachments.office.net", "microsoft", "attachments.office.net.akadns.net", "outlook.ms-acdc.office.com"),
    _h("content.googleapis.com", "google", "googleapis.l.google.com"),
    _h("www.dropbox.com", "aws", "www-env.dropbox-dns.com"),
)

# Web apps a clerk keeps open in a tab, each holding one connection that trickles small messages (mail and chat
# notifications, presence, keep-alives) for as long as the tab is open.
APPS = (
    _h("outlook.cloud.microsoft", "microsoft", "outlook.ms-acdc.office.com"),
    _h("teams.microsoft.com", "microsoft", "teams.office.com", "s-0005.s-msedge.net"),
    _h("wss-primary.slack.com", "aws", "wss-primary-dfw.slack-edge.com"),
    _h("mail.google.com", "google", "googlemail.l.google.com"),
    _h("chat.google.com", "google"),
)

# What the desktop itself talks to in the background, each a short HTTPS call at its own pace.
SERVICES = (
    _h("push.services.mozilla.com", "gcp", "autopush.prod.mozaws.net"),
    _h("firefox.settings.services.mozilla.com", "gcp", "prod.remote-settings.prod.webservices.mozgcp.net"),
    _h("incoming.telemetry.mozilla.org", "gcp", "telemetry-incoming.r53-2.services.mozilla.com"),
    _h("safebrowsing.googleapis.com", "google"),
    _h("shavar.services.mozilla.com", "gcp", "shavar.prod.mozaws.net"),
    _h("contile.services.mozilla.com", "gcp"),
    _h("content-signature-2.cdn.mozilla.net", "cloudfront", "d3kbfk6kxmm9fz.cloudfront.net"),
    _h("cdn.fwupd.org", "fastly", "lvfs.map.fastly.net"),  # fwupd-refresh.timer: the firmware metadata
)

# Firefox's captive-portal check (plain HTTP, its User-Agent): Debian's NetworkManager checks nothing itself
# (Ubuntu's connectivity-check is a package of Ubuntu's), so this is the desktop's one periodic plain-HTTP call.
CONNECTIVITY = _h("detectportal.firefox.com", "gcp", "detectportal.prod.mozaws.net",
                  "prod.detectportal.prod.cloudops.mozgcp.net")
# systemd-timesyncd's server: Debian builds systemd with the Debian pool's names, and it keeps the first answer.
NTP = _h("0.debian.pool.ntp.org", "ntppool")


@cache
def firefox_user_agent() -> str:
    """What the workstation's Firefox sends: the installed firefox-esr's (dpkg's status, the installed tree's
    catalog) major version, as every Firefox on Linux spells it (``rv:`` and ``Firefox/`` both the major)."""
    from dflab.scenario.ostree.catalog import load  # the catalog's JSON is read once, only by what needs it

    version = next(p.version for p in load(DISTRIBUTION).packages if p.name == "firefox-esr")
    major = version.split(".", 1)[0]
    return f"Mozilla/5.0 (X11; Linux x86_64; rv:{major}.0) Gecko/20100101 Firefox/{major}.0"
