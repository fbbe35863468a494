// Runs in the page: parses one card with the adaptivecards SDK, renders it
// into #card at a given width and reports what a payer can read.
/* global AdaptiveCards, markdownit */
"use strict";

// Outlook's payment action: a button that opens the payment flow with its
// initializationContext (merchantId, displayId, productContext).
class TransactionAction extends AdaptiveCards.Action {
  getJsonTypeName() {
    return "Action.Transaction";
  }
  get initializationContext() {
    return this.getValue(TransactionAction.initializationContextProperty);
  }
}
TransactionAction.initializationContextProperty =
  new AdaptiveCards.PropertyDefinition(AdaptiveCards.Versions.v1_0,
                                       "initializationContext");
AdaptiveCards.GlobalRegistry.actions.register("Action.Transaction",
                                              TransactionAction,
                                              AdaptiveCards.Versions.v1_0);

const md = markdownit();
AdaptiveCards.AdaptiveCard.onProcessMarkdown = (text, result) => {
  result.outputHtml = md.render(text);
  result.didProcess = true;
};

// Texts a payer reads: text blocks and fact titles and values.
function texts(root) {
  return Array.from(root.querySelectorAll(
    ".ac-textBlock, .ac-fact-title, .ac-fact-value"));
}

// Whether the content of el or of any element in it (a text block without
// wrap hides the overflow of its inner <p> behind an ellipsis) is wider or
// taller than what is shown of it, or reaches out of the card.
function cutOff(el, card) {
  const edge = card.getBoundingClientRect();
  return [el, ...el.querySelectorAll("*")].some((e) => {
    const box = e.getBoundingClientRect();
    return e.scrollWidth > e.clientWidth + 1 ||
      e.scrollHeight > e.clientHeight + 1 ||
      box.right > edge.right + 0.5 || box.left < edge.left - 0.5;
  });
}

window.renderCard = (json, width) => {
  const card = new AdaptiveCards.AdaptiveCard();
  const context = new AdaptiveCards.SerializationContext();
  card.parse(JSON.parse(json), context);
  const events = [];
  for (let i = 0; i < context.eventCount; i++) {
    const e = context.getEventAt(i);
    events.push("parse: " + e.message);
  }
  const validation = card.validateProperties();
  for (const e of validation.validationEvents) {
    events.push("validation: " + e.message);
  }
  const host = document.getElementById("card");
  host.style.width = width + "px";
  host.textContent = "";
  const element = card.render();
  if (element) host.appendChild(element);
  const shown = texts(host);
  return {
    events,
    version: card.version ? card.version.toString() : "",
    text: host.innerText,
    texts: shown.map((el) => el.innerText),
    cut: shown.filter((el) => cutOff(el, host)).map((el) => el.innerText),
    buttons: Array.from(host.querySelectorAll("button"))
      .filter((b) => cutOff(b, host) === false)
      .map((b) => b.innerText.trim()),
    allButtons: Array.from(host.querySelectorAll("button"))
      .map((b) => b.innerText.trim()),
    transactions: card.getAllActions()
      .filter((a) => a instanceof TransactionAction)
      .map((a) => a.initializationContext),
  };
};
