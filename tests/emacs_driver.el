;;; emacs_driver.el --- drives Eglot with editors/emacs/precedent.el against `precedent serve'  -*- lexical-binding: t; -*-

;; Run by tests/test_emacs.py as
;;   emacs --batch -l editors/emacs/precedent.el -l tests/emacs_driver.el
;; $PRECEDENT_EMACS_TEST names a JSON scenario; what the writer got is written as JSON to its
;; "out" path.  The writer's answers to Eglot's prompts come on stdin (batch mode reads the
;; minibuffer from there): an empty line takes the default.  Every wait has a deadline.

(require 'precedent)
(require 'flymake)
(require 'json)

(defvar driver-scenario
  (json-parse-string
   (with-temp-buffer
     (insert-file-contents (getenv "PRECEDENT_EMACS_TEST"))
     (buffer-string))
   :object-type 'plist :array-type 'array :null-object nil :false-object :json-false))

(defvar driver-out (list :steps []))

(defun driver-get (key) (plist-get driver-scenario key))

(defun driver-record (key value)
  (setq driver-out (plist-put driver-out key value)))

(defun driver-step (name)
  (driver-record :steps (vconcat (plist-get driver-out :steps) (list name)))
  (message "driver: %s" name))

(defun driver-write ()
  (with-temp-file (driver-get :out)
    (insert (json-serialize driver-out :null-object :null :false-object :json-false))))

(defun driver-pause ()
  "The writer pauses: Emacs is idle.
Batch Emacs never waits for a key, so its idle timers (Eglot sends a
buffer's edits from one) never fire by themselves: run them."
  (dolist (timer (copy-sequence timer-idle-list))
    (timer-event-handler timer))
  (accept-process-output nil 0.05))

(defun driver-wait (what predicate &optional seconds)
  "Pauses (`driver-pause') until PREDICATE returns non-nil, which is returned."
  (let ((deadline (+ (float-time) (or seconds 60)))
        value)
    (while (and (not (setq value (funcall predicate)))
                (< (float-time) deadline))
      (driver-pause))
    (or value (error "Timed out after %ss waiting for %s" (or seconds 60) what))))

(defun driver-line-col (pos)
  (save-excursion
    (goto-char pos)
    (list :line (1- (line-number-at-pos)) :character (current-column))))

(defun driver-hints ()
  "precedent's diagnostics in the buffer, as Flymake has them."
  (flymake-start)
  (cl-loop for d in (flymake-diagnostics)
           for lsp = (cdr (assoc 'eglot-lsp-diag (flymake-diagnostic-data d)))
           when (equal (plist-get lsp :source) "precedent")
           collect (list :start (driver-line-col (flymake-diagnostic-beg d))
                         :end (driver-line-col (flymake-diagnostic-end d))
                         :text (flymake-diagnostic-text d)
                         :word (plist-get (plist-get lsp :data) :word)
                         :preferred (plist-get (plist-get lsp :data) :preferred))))

(defun driver-hint-on (word line)
  (cl-find-if (lambda (h) (and (equal (plist-get h :word) word)
                               (= (plist-get (plist-get h :start) :line) line)))
              (driver-hints)))

(defun driver-goto (line character)
  (goto-char (point-min))
  (forward-line line)
  (forward-char character))

(defun driver-sorted (table prefix)
  "The completions of TABLE for PREFIX, in the order the completion UI shows them."
  (let ((sort (completion-metadata-get (completion-metadata prefix table nil) 'display-sort-function)))
    (funcall (or sort #'identity) (all-completions prefix table))))

(defun driver-completions ()
  "What Eglot's completion-at-point function offers at point, in order, as text."
  (pcase-let ((`(,beg ,end ,table . ,_) (eglot-completion-at-point)))
    (mapcar #'substring-no-properties (driver-sorted table (buffer-substring-no-properties beg end)))))

(defun driver-run ()
  (setq precedent-command (append (driver-get :cmd) nil)
        precedent-settings (driver-get :settings))
  (driver-step "open")
  (find-file (driver-get :doc))
  (driver-record :major-mode (symbol-name major-mode))
  (call-interactively #'eglot)
  (let ((server (driver-wait "Eglot to connect" #'eglot-current-server)))
    (driver-record :language-id (eglot--language-id server))
    (driver-step "ready")
    (driver-wait "precedent/statusChanged with the model and the index"
                 (lambda () (and (plist-get precedent-status :model)
                                 (> (length (plist-get precedent-status :indexes)) 0))))
    (driver-record :status-model (plist-get precedent-status :model))

    (driver-step "hint")
    (let* ((word (driver-get :hint-word))
           (line (driver-get :hint-line))
           (hint (driver-wait "the word-choice hint" (lambda () (driver-hint-on word line)))))
      (driver-record :hint hint)
      (driver-step "quick fix")
      (let ((start (plist-get hint :start))
            ;; As if the command came from a key, not a mouse click (which opens a popup menu).
            (last-nonmenu-event ?\r))
        (driver-goto (plist-get start :line) (plist-get start :character))
        ;; M-x eglot-code-actions with point on the word; the answer to "Pick an action"
        ;; comes from stdin.
        (call-interactively #'eglot-code-actions))
      (driver-record :fixed-line (buffer-substring-no-properties (line-beginning-position)
                                                                 (line-end-position)))
      (driver-wait "the hint to go once fixed" (lambda () (not (driver-hint-on word line)))))

    (driver-step "completion")
    (goto-char (point-max))
    (insert "\n" (driver-get :typed))
    (driver-record :completions (vconcat (driver-completions)))
    ;; Mid-word: the writer types a prefix and takes the first item, as company or corfu do
    ;; with Eglot's completion-at-point function: insert it, then its exit function.
    (insert (driver-get :prefix))
    (pcase-let* ((`(,beg ,end ,table . ,props) (eglot-completion-at-point))
                 (first (car (driver-sorted table (buffer-substring-no-properties beg end)))))
      (driver-record :chosen (substring-no-properties first))
      (delete-region beg end)
      (goto-char beg)
      (insert first)
      (funcall (plist-get props :exit-function) first 'finished))
    (driver-record :completed-line (buffer-substring-no-properties (line-beginning-position)
                                                                   (line-end-position)))

    (driver-step "hover")
    (let ((hover (driver-get :hover))
          shown)
      (driver-goto (plist-get hover :line) (plist-get hover :character))
      (eglot-hover-eldoc-function (lambda (info &rest _) (setq shown (or info ""))))
      (driver-record :hover (driver-wait "hover" (lambda () shown))))

    (driver-step "shutdown")
    (let* ((process (jsonrpc--process server))
           (pid (process-id process)))
      ;; Eglot deletes the process right after sending `exit'; let it exit on its own first
      ;; (for at most 10 s), so that the test sees how it ended.
      (advice-add 'jsonrpc-shutdown :before
                  (lambda (&rest _)
                    (let ((deadline (+ (float-time) 10)))
                      (while (and (process-live-p process) (< (float-time) deadline))
                        (accept-process-output nil 0.05)))
                    (driver-record :server-exit (list :status (symbol-name (process-status process))
                                                      :code (process-exit-status process)))))
      (condition-case err
          (eglot-shutdown server)
        (error (driver-record :shutdown-error (error-message-string err))))
      (driver-record :server-pid pid)
      (driver-record :server-live (if (process-live-p process) t :json-false)))
    (set-buffer-modified-p nil)
    (driver-step "done")))

(defun driver-buffer-tail (name-regexp chars)
  "The last CHARS characters of each buffer whose name matches NAME-REGEXP."
  (mapconcat (lambda (buffer)
               (with-current-buffer buffer
                 (format "--- %s\n%s" (buffer-name)
                         (buffer-substring-no-properties (max (point-min) (- (point-max) chars))
                                                         (point-max)))))
             (cl-remove-if-not (lambda (b) (string-match-p name-regexp (buffer-name b))) (buffer-list))
             "\n"))

(condition-case err
    (driver-run)
  (error
   (driver-record :error (error-message-string err))
   ;; Eglot's events buffer (the JSON-RPC exchange) and the server's stderr.
   (driver-record :eglot-log (driver-buffer-tail "EGLOT" 6000))))
(driver-write)
(kill-emacs 0)

;;; emacs_driver.el ends here
