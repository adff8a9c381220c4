// A small SVG line chart of one session: power (kW, left axis) and SoC (%, right axis) over
// the session's own (simulated) time. Hand-drawn so that the page needs no library and works
// offline.

const SVG = "http://www.w3.org/2000/svg";
const MARGIN = { top: 14, right: 46, bottom: 30, left: 50 };

function element(name, attributes, text) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Round numbers for an axis from 0 to at least `max`: [top, step]. */
function niceScale(max, ticks = 4) {
  if (!(max > 0)) return [1, 0.25];
  const raw = max / ticks;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * magnitude).find((s) => s >= raw);
  return [Math.ceil(max / step) * step, step];
}

function formatMinutes(minutes) {
  if (minutes >= 120) return `${(minutes / 60).toFixed(minutes >= 600 ? 0 : 1)} h`;
  if (minutes >= 2) return `${Math.round(minutes)} min`;
  return `${Math.round(minutes * 60)} s`;
}

/**
 * Draw `points` ([{t: ms, power: kW, soc: % or null}], in time order) into `svg`.
 * The number of points drawn is kept in the svg's `data-points` attribute.
 */
export function drawChart(svg, points) {
  const width = Math.max(svg.clientWidth || 600, 320);
  const height = Math.max(svg.clientHeight || 260, 180);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("data-points", String(points.length));
  svg.replaceChildren();

  const plotW = width - MARGIN.left - MARGIN.right;
  const plotH = height - MARGIN.top - MARGIN.bottom;
  const t0 = points.length ? points[0].t : 0;
  const span = points.length > 1 ? (points[points.length - 1].t - t0) / 60000 : 1;
  const [xMax, xStep] = niceScale(Math.max(span, 0.5), 5);
  const [pMax, pStep] = niceScale(Math.max(0, ...points.map((p) => p.power)) * 1.1, 4);

  const x = (t) => MARGIN.left + (((t - t0) / 60000) / xMax) * plotW;
  const yPower = (kw) => MARGIN.top + plotH - (kw / pMax) * plotH;
  const ySoc = (soc) => MARGIN.top + plotH - (soc / 100) * plotH;

  const grid = element("g", { class: "grid" });
  for (let value = 0; value <= pMax + 1e-9; value += pStep) {
    const y = yPower(value);
    grid.append(element("line", { x1: MARGIN.left, x2: MARGIN.left + plotW, y1: y, y2: y }));
    grid.append(
      element("text", { x: MARGIN.left - 8, y: y + 4, "text-anchor": "end", class: "axis power" },
        value % 1 ? value.toFixed(1) : String(value)),
    );
    const soc = (value / pMax) * 100;
    grid.append(
      element("text", { x: MARGIN.left + plotW + 8, y: y + 4, class: "axis soc" },
        `${Math.round(soc)}`),
    );
  }
  for (let minutes = 0; minutes <= xMax + 1e-9; minutes += xStep) {
    const px = MARGIN.left + (minutes / xMax) * plotW;
    grid.append(element("line", { x1: px, x2: px, y1: MARGIN.top, y2: MARGIN.top + plotH, class: "v" }));
    grid.append(
      element("text", { x: px, y: height - 10, "text-anchor": "middle", class: "axis" },
        formatMinutes(minutes)),
    );
  }
  svg.append(grid);

  if (!points.length) {
    svg.append(
      element("text", { x: MARGIN.left + plotW / 2, y: MARGIN.top + plotH / 2, "text-anchor": "middle", class: "placeholder" },
        "no meter values yet"),
    );
    return;
  }

  const powerLine = points.map((p) => `${x(p.t).toFixed(1)},${yPower(p.power).toFixed(1)}`);
  const area = `M${x(t0)},${yPower(0)} L${powerLine.join(" L")} L${x(points[points.length - 1].t)},${yPower(0)} Z`;
  svg.append(element("path", { d: area, class: "area power" }));
  svg.append(element("polyline", { points: powerLine.join(" "), class: "line power" }));
  const withSoc = points.filter((p) => p.soc !== null && p.soc !== undefined);
  if (withSoc.length) {
    svg.append(
      element("polyline", {
        points: withSoc.map((p) => `${x(p.t).toFixed(1)},${ySoc(p.soc).toFixed(1)}`).join(" "),
        class: "line soc",
      }),
    );
  }
  const last = points[points.length - 1];
  svg.append(element("circle", { cx: x(last.t), cy: yPower(last.power), r: 4, class: "dot power" }));
  if (withSoc.length) {
    const lastSoc = withSoc[withSoc.length - 1];
    svg.append(element("circle", { cx: x(lastSoc.t), cy: ySoc(lastSoc.soc), r: 4, class: "dot soc" }));
  }
}
