;;; precedent.el --- precedent's language server in Emacs through Eglot  -*- lexical-binding: t; -*-

;; Version: 0.1.0
;; Package-Requires: ((emacs "28.1") (eglot "1.9"))
;; Keywords: wp, languages

;;; Commentary:

;; precedent suggests the next words from your team's documents (kNN-LM) and shows their
;; evidence; `precedent serve' is its language server.  This file registers it with Eglot
;; for Markdown, plain text, reStructuredText, AsciiDoc and HTML buffers, sends your
;; settings, and keeps the server's status (`precedent/statusChanged').
;;
;;   (add-to-list 'load-path "~/src/precedent/editors/emacs")
;;   (require 'precedent)
;;   (setq precedent-settings '(:indexPaths ["~/team/team.index"]))
;;   (add-hook 'markdown-mode-hook #'eglot-ensure)
;;
;; Then M-x eglot (or `eglot-ensure' from a hook) in a Markdown buffer.  Completion is
;; `completion-at-point' (C-M-i), evidence is the hover shown by ElDoc, word-choice hints
;; are Flymake diagnostics and their quick fixes are `eglot-code-actions'.  See README.md.

;;; Code:

(require 'eglot)

(defgroup precedent nil
  "Next-word suggestions from your team's documents (precedent language server)."
  :group 'eglot
  :prefix "precedent-")

(defcustom precedent-command '("precedent" "serve")
  "The command that starts the language server, a list of strings.
For example (\"precedent\" \"--model\" \"/models/x\" \"serve\")."
  :type '(repeat string))

(defcustom precedent-settings nil
  "Settings for the server, a plist.
The names are those of server/lsp/PROTOCOL.md, nested as there, lists as
vectors and false as :json-false, for example
  (:indexPaths [\"~/team/team.index\"] :hints (:severity \"information\")).
They are sent as `initializationOptions' and as the `precedent' section of
the workspace configuration, unless the project sets that section itself in
`eglot-workspace-configuration' (for example in .dir-locals.el), which then
wins.  Unset settings come from the server's defaults and the workspace's
precedent.toml."
  :type 'plist)

(defconst precedent-major-modes
  '((markdown-mode :language-id "markdown")
    (gfm-mode :language-id "markdown")
    (rst-mode :language-id "restructuredtext")
    (adoc-mode :language-id "asciidoc")
    (mhtml-mode :language-id "html")
    (html-mode :language-id "html")
    ;; Last: markdown-mode and rst-mode derive from text-mode, and Eglot takes the first
    ;; mode a buffer's mode derives from.
    (text-mode :language-id "plaintext"))
  "Major modes precedent serves, with the LSP language id Eglot sends for each.")

(defvar precedent-status nil
  "The last `precedent/statusChanged' from the server.
A plist: :model, :modelError, :indexes, :indexing, :k, :lambda, ...")

(defclass precedent-server (eglot-lsp-server) ()
  "Eglot's connection to `precedent serve'.")

(defun precedent--contact (_interactive)
  "The `eglot-server-programs' contact.
`precedent-command' with `precedent-settings' as initializationOptions."
  (cons 'precedent-server
        (append precedent-command
                ;; An empty plist would be sent as null; the server wants an object or nothing.
                (when precedent-settings
                  (list :initializationOptions precedent-settings)))))

(cl-defmethod eglot-handle-request
  ((_server precedent-server) (_method (eql workspace/configuration)) &key items)
  "Answer an unset `precedent' section with `precedent-settings'.
A project sets it in `eglot-workspace-configuration'.  Eglot sends that
configuration (empty without one) after initializing, and the server then
asks for the section; a null answer would replace the settings of
`initializationOptions'."
  (let ((answers (cl-call-next-method)))
    (cl-loop for item across items
             for i from 0
             when (and (equal (plist-get item :section) "precedent")
                       (null (aref answers i))
                       precedent-settings)
             do (aset answers i precedent-settings))
    answers))

(cl-defmethod eglot-handle-notification
  (_server (_method (eql precedent/statusChanged)) &rest status)
  "Keep the server's STATUS; say so once when the model cannot be loaded."
  (let ((model-error (plist-get status :modelError))
        (previous (plist-get precedent-status :modelError)))
    (setq precedent-status status)
    (when (and (stringp model-error) (not (equal model-error previous)))
      (display-warning 'precedent model-error :warning))))

(add-to-list 'eglot-server-programs (cons precedent-major-modes #'precedent--contact))

(provide 'precedent)
;;; precedent.el ends here
