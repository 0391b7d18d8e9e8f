// linectl HMI, batch screen: picking a product fills in the names of the materials its last
// work order used (the lots are typed for each batch). Progressive: the form works without it.
"use strict";
(function () {
  const data = document.getElementById("products");
  const picker = document.getElementById("create-product");
  if (!data || !picker) return;
  const products = JSON.parse(data.textContent);
  picker.addEventListener("change", function () {
    const product = products.find(function (p) { return p.gtin + "|" + p.market === picker.value; });
    const names = product ? product.materials : [];
    document.querySelectorAll(".material-name").forEach(function (input, i) {
      input.value = names[i] || "";
    });
  });
})();
