// Making the component's elements.

/** A new `tag` element with a class and text, appended to `parent` (each optional). */
export function el(tag, className, parent, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  if (parent) parent.appendChild(node);
  return node;
}
