/* /dashboard: draws the charts from the report the page carries (the figures' tables are
   rendered by the server and stay the text alternative). ECharts and mermaid are vendored
   (static/vendor); nothing is fetched. */
(function () {
  "use strict";
  var doc = JSON.parse(document.getElementById("report-data").textContent);
  var FONT = '"Noto Sans CJK SC", "WenQuanYi Micro Hei", "PingFang SC", "Microsoft YaHei", system-ui, sans-serif';
  var charts = [];

  function chart(id, option) {
    var node = document.getElementById(id);
    if (!node || !window.echarts) { return; }
    var c = window.echarts.init(node, null, { renderer: "svg" });
    option.textStyle = { fontFamily: FONT };
    option.aria = { enabled: true };
    c.setOption(option);
    charts.push(c);
  }

  function pct(x) { return x === null ? null : Math.round(x * 1000) / 10; }

  // From the greeting to each outcome: a Sankey of where the calls went.
  var o = doc.outcomes, ab = doc.abandonment;
  var links = [
    ["Greeting", "Self-served", o.self_served],
    ["Greeting", "Agent queue", o.agent],
    ["Greeting", "Hung up in the menus", o.abandoned],
    ["Greeting", "Error", o.error],
    ["Greeting", "Not over yet", o.open],
    ["Self-served", "Contained", doc.contained],
    ["Self-served", "Called again within 24 h", o.self_served - doc.contained],
    ["Agent queue", "Answered by an agent", ab.answered],
    ["Agent queue", "Gave up in the queue", ab.in_queue],
    ["Agent queue", "Left for a callback or voicemail", ab.left_queue],
    ["Agent queue", "Still waiting", Math.max(0, ab.queued - ab.answered - ab.in_queue - ab.left_queue)]
  ].filter(function (l) { return l[2] > 0; });
  var names = {};
  links.forEach(function (l) { names[l[0]] = 1; names[l[1]] = 1; });
  chart("chart-funnel", {
    tooltip: { trigger: "item" },
    series: [{
      type: "sankey", left: 8, right: 150, top: 10, bottom: 10, nodeGap: 12,
      emphasis: { focus: "adjacency" },
      label: { color: "#0f172a" },
      lineStyle: { color: "gradient", opacity: 0.35 },
      data: Object.keys(names).map(function (n) { return { name: n }; }),
      links: links.map(function (l) { return { source: l[0], target: l[1], value: l[2] }; })
    }]
  });

  chart("chart-hours", {
    tooltip: { trigger: "axis" },
    grid: { left: 40, right: 12, top: 20, bottom: 30 },
    xAxis: { type: "category", data: doc.by_hour.map(function (_, h) { return (h < 10 ? "0" : "") + h; }) },
    yAxis: { type: "value", minInterval: 1 },
    series: [{ type: "bar", name: "Calls", data: doc.by_hour, itemStyle: { color: "#1d4ed8" } }]
  });

  var points = doc.timeline.points;
  chart("chart-timeline", {
    tooltip: { trigger: "axis", valueFormatter: function (v) { return v === null ? "–" : v + "%"; } },
    legend: { top: 0 },
    grid: { left: 44, right: 12, top: 40, bottom: 30 },
    xAxis: { type: "category", data: points.map(function (p) {
      return doc.timeline.step === "hour" ? p.start.slice(11, 16) : p.start.slice(5, 10);
    }) },
    yAxis: { type: "value", max: 100, axisLabel: { formatter: "{value}%" } },
    series: [
      { type: "line", name: "Containment", data: points.map(function (p) { return pct(p.containment); }), color: "#15803d" },
      { type: "line", name: "Hung up in the menus", data: points.map(function (p) { return pct(p.in_ivr_share); }), color: "#b91c1c", lineStyle: { type: "dashed" } },
      { type: "line", name: "Gave up in the queue", data: points.map(function (p) { return pct(p.in_queue_share); }), color: "#a16207", lineStyle: { type: "dotted" } }
    ]
  });

  window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });

  // The heat map: the flow's diagram, each state filled by its drop-off (server-made source).
  var target = document.getElementById("heat-map");
  if (window.mermaid && target) {
    window.mermaid.initialize({ startOnLoad: false, securityLevel: "strict", theme: "neutral",
                                 fontFamily: FONT, flowchart: { useMaxWidth: true } });
    var source = JSON.parse(document.getElementById("heat-source").textContent);
    window.mermaid.render("heat-svg", source).then(function (out) {
      target.innerHTML = out.svg;
      target.setAttribute("data-drawn", "yes");
    });
  }
  document.body.setAttribute("data-charts", String(charts.length));
})();
