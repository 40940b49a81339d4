// A dependency-free SVG bar chart of bench:spec results: tokens/s per mode, grouped by scenario.

interface Row {
  name: string;
  mode: string;
  drafter: string | null;
  modelled: boolean;
  tokensPerSecond: number;
}

const COLORS: Record<string, string> = {
  plain: "#9aa5b1",
  speculative: "#3b82f6",
  pipeinfer: "#f59e0b",
};

export function renderSpecPlot(rows: readonly Row[]): string {
  const groups = [...new Set(rows.map((r) => r.name))];
  const bars = (g: string): Row[] => rows.filter((r) => r.name === g);
  const maxBars = Math.max(...groups.map((g) => bars(g).length));
  const barW = 18;
  const groupW = maxBars * barW + 30;
  const H = 260;
  const top = 30;
  const base = H - 60;
  const max = Math.max(...rows.map((r) => r.tokensPerSecond), 1);
  const W = groups.length * groupW + 60;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="10">`,
    `<text x="10" y="16" font-size="12">tokens/s per mode and scenario (higher is better)</text>`,
  ];
  groups.forEach((g, gi) => {
    const x0 = 50 + gi * groupW;
    bars(g).forEach((r, bi) => {
      const h = ((base - top) * r.tokensPerSecond) / max;
      const x = x0 + bi * barW;
      out.push(
        `<rect x="${x}" y="${(base - h).toFixed(1)}" width="${barW - 3}" height="${h.toFixed(1)}" fill="${COLORS[r.mode] ?? "#555"}">` +
          `<title>${g} ${r.mode} ${r.drafter ?? ""}: ${r.tokensPerSecond.toFixed(2)} tok/s</title></rect>`,
      );
      out.push(
        `<text x="${x + 2}" y="${(base - h - 3).toFixed(1)}" font-size="8">${r.tokensPerSecond.toFixed(1)}</text>`,
      );
      const tag = r.drafter === null ? "" : r.drafter === "engine" ? "eng" : "ort";
      out.push(`<text x="${x + 1}" y="${base + 9}" font-size="7">${tag}</text>`);
    });
    const label = `${g}${bars(g)[0]?.modelled === true ? " (modelled)" : ""}`;
    out.push(`<text x="${x0}" y="${base + 21}">${label}</text>`);
  });
  Object.entries(COLORS).forEach(([mode, c], i) => {
    out.push(`<rect x="${50 + i * 110}" y="${H - 28}" width="10" height="10" fill="${c}"/>`);
    out.push(`<text x="${64 + i * 110}" y="${H - 19}">${mode}</text>`);
  });
  out.push(
    `<text x="${50 + 3 * 110}" y="${H - 19}">ort = onnxruntime-web drafter, eng = engine drafter</text>`,
  );
  out.push("</svg>");
  return out.join("\n");
}
