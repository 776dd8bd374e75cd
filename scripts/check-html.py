#!/usr/bin/env python3
"""Check a cwrepro HTML report in headless Chromium.

usage: scripts/check-html.py PAGE.html [--screenshot OUT.png] [--width 1280] [--min-ink 0.002]

Loads the page from disk in headless Chromium (Debian's `chromium`) and checks that
  1. it renders without console messages at error level: script errors, Content-Security-Policy
     violations (a fetch of anything), SVG attribute parse errors (Chromium logs "Error: <path>
     attribute d: ...");
  2. a screenshot shows every chart: inside the bounding box of each chart's marks (`svg.chart
     g.marks`), at least --min-ink of the pixels differ from the white page, and at least 200 do.
The page under test is a copy with a small probe script injected (and the CSP relaxed for that
inline script only); the probe records errors and the charts' boxes into the DOM, which
`--dump-dom` returns. The screenshot is decoded by the small PNG reader below (stdlib only).

Exit codes: 0 all checks passed, 1 a check failed, 2 bad usage or no Chromium.
Prints one line per chart and one per problem.
"""
import argparse, html, json, os, re, shutil, struct, subprocess, sys, tempfile, zlib

PROBE = """<script>(function(){
var errors=[];
window.addEventListener('error',function(e){errors.push('error: '+(e.message||e.type));},true);
document.addEventListener('securitypolicyviolation',function(e){errors.push('csp: '+e.violatedDirective+' '+e.blockedURI);});
var ce=console.error;console.error=function(){errors.push('console.error: '+Array.prototype.join.call(arguments,' '));ce.apply(console,arguments);};
window.addEventListener('load',function(){setTimeout(function(){
function box(el){var r=el.getBoundingClientRect();return [r.left+scrollX,r.top+scrollY,r.width,r.height];}
var charts=Array.prototype.map.call(document.querySelectorAll('svg.chart'),function(s){
var m=s.querySelector('g.marks');return {id:s.id,kind:s.getAttribute('data-kind'),box:box(s),marks:m?box(m):null};});
var pre=document.createElement('pre');pre.id='cwrepro-probe';pre.style.display='none';
pre.textContent=JSON.stringify({errors:errors,width:document.documentElement.scrollWidth,height:document.documentElement.scrollHeight,charts:charts});
document.body.appendChild(pre);},0);});
})();</script>"""

CONSOLE = re.compile(r"CONSOLE|Uncaught|Refused to|attribute \w+: ", re.I)


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def run_chromium(chromium, profile, args, url):
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
           "--force-device-scale-factor=1", "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000",
           "--user-data-dir=" + profile] + args + [url]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    return p.returncode, p.stdout, p.stderr


def read_png(path):
    """(width, height, rows of (r, g, b) tuples) of an 8-bit non-interlaced RGB or RGBA PNG."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG file")
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, color, _, _, interlace = header
    if depth != 8 or color not in (2, 6) or interlace:
        raise ValueError(f"{path}: unsupported PNG (depth {depth}, colour type {color}, interlace {interlace})")
    bpp = 3 if color == 2 else 4
    raw, stride = zlib.decompress(idat), width * bpp
    rows, previous = [], bytearray(stride)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = previous[i]
            c = previous[i - bpp] if i >= bpp else 0
            if f == 1: line[i] = (line[i] + a) & 255
            elif f == 2: line[i] = (line[i] + b) & 255
            elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        previous = line
    return width, height, rows, bpp


def ink(png, box):
    """Pixels inside box (x, y, w, h) that differ from white by more than 24 in a channel, and the total."""
    width, height, rows, bpp = png
    x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
    x1, y1 = min(width, int(box[0] + box[2] + 0.999)), min(height, int(box[1] + box[3] + 0.999))
    inked = 0
    for y in range(y0, y1):
        line = rows[y]
        for x in range(x0, x1):
            i = x * bpp
            if line[i] < 231 or line[i + 1] < 231 or line[i + 2] < 231:
                inked += 1
    return inked, max(0, x1 - x0) * max(0, y1 - y0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("page")
    ap.add_argument("--screenshot", help="also save the screenshot here")
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--min-ink", type=float, default=0.002)
    a = ap.parse_args()
    chromium = find_chromium()
    if not chromium:
        print("no chromium on PATH (Debian: apt-get install -y chromium)")
        return 2
    try:
        text = open(a.page, encoding="utf-8").read()
    except OSError as e:
        print(f"cannot read {a.page}: {e}")
        return 2
    if "<head>" not in text:
        print(f"{a.page}: no <head> to inject the probe into")
        return 2
    probe_page = text.replace("<head>", "<head>" + PROBE, 1).replace("default-src 'none'", "default-src 'none'; script-src 'unsafe-inline'", 1)
    problems = []
    with tempfile.TemporaryDirectory(prefix="cwrepro-check-html-") as tmp:
        page = os.path.join(tmp, "page.html")
        open(page, "w", encoding="utf-8").write(probe_page)
        url = "file://" + page
        code, dom, log = run_chromium(chromium, os.path.join(tmp, "profile"), [f"--window-size={a.width},900", "--dump-dom"], url)
        m = re.search(r'<pre id="cwrepro-probe"[^>]*>(.*?)</pre>', dom, re.S)
        if code != 0 or not m:
            print(f"chromium did not render the page (exit {code}):\n{log[-2000:]}")
            return 1
        report = json.loads(html.unescape(m.group(1)))
        console = [l for l in log.splitlines() if CONSOLE.search(l)]
        for e in report["errors"]:
            problems.append(f"page error: {e}")
        for l in console:
            problems.append(f"console: {l.strip()[:300]}")
        height = max(200, min(16384, int(report["height"])))
        shot = os.path.join(tmp, "shot.png")
        code, _, log2 = run_chromium(chromium, os.path.join(tmp, "profile"), [f"--window-size={a.width},{height}", "--screenshot=" + shot], url)
        if code != 0 or not os.path.exists(shot):
            print(f"chromium made no screenshot (exit {code}):\n{log2[-2000:]}")
            return 1
        for l in log2.splitlines():
            if CONSOLE.search(l) and l not in console:
                problems.append(f"console: {l.strip()[:300]}")
        png = read_png(shot)
        if not report["charts"]:
            problems.append("no svg.chart on the page")
        for c in report["charts"]:
            marks = c["marks"]
            if not marks or marks[2] < 1 or marks[3] < 1:
                problems.append(f"{c['id']} ({c['kind']}): nothing drawn (empty marks)")
                continue
            inked, area = ink(png, marks)
            fraction = inked / area if area else 0
            print(f"{c['id']} {c['kind']}: {inked} of {area} px inked ({100 * fraction:.1f}%) in marks box "
                  f"{marks[2]:.0f}x{marks[3]:.0f} at ({marks[0]:.0f}, {marks[1]:.0f})")
            if inked < 200 or fraction < a.min_ink:
                problems.append(f"{c['id']} ({c['kind']}): the screenshot shows almost nothing in its plot area ({inked} px)")
        if a.screenshot:
            shutil.copyfile(shot, a.screenshot)
    print(f"{len(report['charts'])} charts, page {a.width}x{height} px, {len(console)} console messages, {len(report['errors'])} page errors")
    for p in problems:
        print("FAIL " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
