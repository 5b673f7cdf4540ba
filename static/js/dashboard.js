/* The dashboard's charts (Apache ECharts, vendored). Each chart is an element with data-chart: its bars, their
   names and the link each bar opens (the list of the records it counts). The tables next to the charts hold the
   same figures, so the page reads without JavaScript. */
(function () {
  "use strict";
  if (typeof echarts === "undefined") return;

  var PALETTE = ["#206bc4", "#f59f00", "#2fb344", "#d63939", "#ae3ec9", "#17a2b8"];
  var charts = [];

  function small() { return window.matchMedia("(max-width: 576px)").matches; }

  function trim(n, digits) { return String(Number(n.toFixed(digits))); }

  /* a count: 1,234 as 1234; large ones shortened */
  function count(value) {
    return Math.abs(value) >= 10000 ? trim(value / 10000, 1) + "万" : String(value);
  }

  /* an amount in 万元: "850万" below 1 亿元, "12.5亿" from 1 亿元 (10,000 万元) on */
  function money(value) {
    if (!value) return "0";
    return Math.abs(value) >= 10000 ? trim(value / 10000, 2) + "亿" : trim(value, 0) + "万";
  }

  function option(spec) {
    var lying = spec.kind === "hbar";
    var font = small() ? 11 : 13;
    var twoAxes = spec.series.some(function (s) { return s.axis === 1; });
    var isMoney = function (axis) { return spec.money_axes.indexOf(axis) >= 0; };
    var valueAxis = function (index) {
      return {
        type: "value", position: lying ? (index ? "top" : "bottom") : (index ? "right" : "left"),
        axisLabel: { fontSize: font, formatter: isMoney(index) ? money : count, hideOverlap: true },
        splitLine: { show: index === 0 }, minInterval: isMoney(index) ? 0 : 1
      };
    };
    var categoryAxis = {
      type: "category", data: spec.categories, inverse: lying,
      axisLabel: { fontSize: font, width: small() ? 72 : 130, overflow: "truncate", interval: 0 },
      axisTick: { show: false }
    };
    var values = twoAxes ? [valueAxis(0), valueAxis(1)] : [valueAxis(0)];
    return {
      color: PALETTE,
      animation: false,
      textStyle: { fontSize: font },
      grid: { left: 8, right: small() ? 20 : 28, top: twoAxes && lying ? 56 : 36, bottom: twoAxes && !lying ? 48 : 8,
              containLabel: true },
      legend: { show: spec.series.length > 1, top: 0, itemGap: 20, textStyle: { fontSize: font } },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, confine: true },
      xAxis: lying ? values : categoryAxis,
      yAxis: lying ? categoryAxis : values,
      series: spec.series.map(function (s) {
        var format = isMoney(s.axis || 0) ? money : count;
        return {
          type: "bar", name: s.name, data: s.values, stack: spec.stack ? "all" : undefined,
          xAxisIndex: lying ? (s.axis || 0) : 0, yAxisIndex: lying ? 0 : (s.axis || 0),
          barMaxWidth: 28, cursor: "pointer",
          tooltip: { valueFormatter: format },
          label: { show: !spec.stack && spec.series.length === 1, position: lying ? "right" : "top",
                   fontSize: font, formatter: function (p) { return format(p.value); } }
        };
      })
    };
  }

  function draw(el) {
    var spec;
    try { spec = JSON.parse(el.getAttribute("data-chart")); } catch (e) { return; }
    if (!spec.categories.length) { el.hidden = true; return; }
    var bars = spec.categories.length * (spec.stack ? 1 : spec.series.length);
    el.style.height = spec.kind === "hbar" ? Math.max(224, 88 + bars * (small() ? 18 : 22)) + "px" : "20rem";
    var chart = echarts.init(el, null, { renderer: "canvas" });
    chart.setOption(option(spec));
    chart.on("click", function (params) {
      var series = spec.series[params.seriesIndex];
      var href = series && series.links[params.dataIndex];
      if (href) window.location.href = href;
    });
    charts.push({ chart: chart, spec: spec });
  }

  document.querySelectorAll("[data-chart]").forEach(draw);
  var pending;
  window.addEventListener("resize", function () {
    clearTimeout(pending);
    pending = setTimeout(function () {
      charts.forEach(function (c) { c.chart.setOption(option(c.spec), true); c.chart.resize(); });
    }, 150);
  });
})();
